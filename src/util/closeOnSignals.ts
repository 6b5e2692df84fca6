/**
 * Closes a server process on SIGINT or SIGTERM: requests in progress finish, then the process exits (1 if
 * closing failed). A second signal exits at once: the operator does not want to wait.
 */
export function closeOnSignals(name: string, close: () => Promise<void>): void {
  let stopping = false;
  const stop = (signal: NodeJS.Signals): void => {
    if (stopping) process.exit(1);
    stopping = true;
    console.error(`${name}: ${signal} received, finishing requests in progress`);
    close().then(
      () => process.exit(0),
      (err: unknown) => {
        console.error(`${name} did not close cleanly:`, err);
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}
