// Every workflow the worker registers; the worker bundles this file.
export { captureBatch } from './captureBatch';
// Batches handed over by versions before the fast path run as archiveBatch until they finish (issue 13).
export { archiveBatch } from './archiveBatch';
export { reconcileWindow } from './reconcileWindow';
export { regionControl } from './regionControl';
export { regionHealthMonitor } from './regionHealthMonitor';
export { sealHour } from './sealHour';
export { capRegistry } from './capRegistry';
export { capLedger } from './capLedger';
export { retireRawHour } from './retireRawHour';
export { capHolderSession } from './capHolderSession';
