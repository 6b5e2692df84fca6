export { FaultProxyClient, FaultProxyError } from './client';
export type { ErrorFormat, Fault, FaultInput } from './faults';
export type { ListenerCounters, ListenerSpec, ListenerStatus } from './listener';
export { startFaultProxy, type FaultProxy, type FaultProxyOptions } from './server';
