import { promisifyRequest } from 'idb-keyval';

/**
 * A lazily opened connection to IndexedDB database `name`, shared by every caller of the returned function. It is
 * closed on `versionchange`, so that another page can delete or upgrade the database (an app's "wipe local data", a
 * later release), and on the browser's own `close`; either way the next call opens it again. `upgrade` creates the
 * object stores of a new database.
 *
 * One module for the sign-in's and the browser sharing's databases (each its own database: idb-keyval cannot add a
 * store to an existing one).
 */
export function reopeningDatabase(name: string, upgrade: (db: IDBDatabase) => void): () => Promise<IDBDatabase> {
  let connection: Promise<IDBDatabase> | undefined;
  const open = (): Promise<IDBDatabase> => {
    const request = indexedDB.open(name);
    request.onupgradeneeded = () => upgrade(request.result);
    const opened = promisifyRequest(request);
    const reopen = (): void => {
      if (connection === opened) connection = undefined;
    };
    opened.then((db) => {
      db.onversionchange = () => {
        db.close();
        reopen();
      };
      db.onclose = reopen;
    }, reopen);
    return opened;
  };
  return () => (connection ??= open());
}
