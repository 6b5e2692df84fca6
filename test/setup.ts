import { DefaultLogger, Runtime } from '@temporalio/worker';

// Workers in tests log only what may explain a failure.
Runtime.install({ logger: new DefaultLogger('WARN') });
