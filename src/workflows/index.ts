// Every workflow the worker registers; the worker bundles this file.
export { archiveBatch } from './archiveBatch';
export { reconcileWindow } from './reconcileWindow';
export { regionControl } from './regionControl';
export { regionHealthMonitor } from './regionHealthMonitor';
