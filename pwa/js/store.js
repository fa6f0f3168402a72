// Personal data kept on this device (plain IndexedDB): the last loaded snapshot of each query.
// Transactions here never wait on the network: fetch first, then open a transaction to store
// the result (a transaction auto-commits as soon as it has no pending requests).

const DB_NAME = "duo-abroad";
const DB_VERSION = 1;
const SNAPSHOTS = "snapshots";
// Caches that hold personal data (e.g. offline diploma extracts) carry this prefix; the
// service worker's shell cache holds none and survives sign-out.
export const DATA_CACHE_PREFIX = "duo-data-";

let connection = null;

function open() {
  if (!connection) {
    connection = new Promise((resolve, reject) => {
      const request = indexedDB.open(DB_NAME, DB_VERSION);
      request.onupgradeneeded = () => {
        request.result.createObjectStore(SNAPSHOTS, { keyPath: "name" });
      };
      request.onsuccess = () => {
        const db = request.result;
        // Another tab deletes or upgrades the database (sign-out): let it.
        db.onversionchange = () => {
          db.close();
          connection = null;
        };
        resolve(db);
      };
      request.onerror = () => {
        connection = null;
        reject(request.error);
      };
    });
  }
  return connection;
}

async function transact(mode, work) {
  const db = await open();
  return new Promise((resolve, reject) => {
    const tx = db.transaction(SNAPSHOTS, mode);
    const request = work(tx.objectStore(SNAPSHOTS));
    tx.oncomplete = () => resolve(request?.result);
    tx.onerror = () => reject(tx.error);
    tx.onabort = () => reject(tx.error ?? new Error("IndexedDB transaction aborted"));
  });
}

/** Store a query's data with the time it was fetched (ms since epoch). */
export function saveSnapshot(name, data, fetchedAt = Date.now()) {
  return transact("readwrite", (store) => store.put({ name, data, fetchedAt }));
}

/** The stored { name, data, fetchedAt }, or undefined. */
export async function loadSnapshot(name) {
  if (!(await databaseExists())) return undefined;
  return transact("readonly", (store) => store.get(name));
}

/** Remove every piece of personal data this app keeps in the browser (sign-out). */
export async function clearPersonalData() {
  if (await databaseExists()) {
    // Empty the store first: that works at once even if another tab holds the database
    // open, while deleteDatabase waits for every connection to close.
    try {
      await transact("readwrite", (store) => store.clear());
    } catch {
      /* IndexedDB unavailable */
    }
    if (connection) {
      (await connection.catch(() => null))?.close();
      connection = null;
    }
    await new Promise((resolve) => {
      const request = indexedDB.deleteDatabase(DB_NAME);
      request.onsuccess = request.onerror = request.onblocked = () => resolve();
    });
  }
  if ("caches" in self) {
    const names = await caches.keys();
    await Promise.all(
      names.filter((n) => n.startsWith(DATA_CACHE_PREFIX)).map((n) => caches.delete(n)),
    );
  }
}

// Opening a database that does not exist creates it: not for reading or emptying it.
async function databaseExists() {
  if (connection) return true;
  if (typeof indexedDB.databases !== "function") return true; // older browsers: assume so
  try {
    return (await indexedDB.databases()).some((db) => db.name === DB_NAME);
  } catch {
    return true;
  }
}
