// Personal data kept on this device (plain IndexedDB): the last loaded snapshot of each query.
// Transactions here never wait on the network: fetch first, then open a transaction to store
// the result (a transaction auto-commits as soon as it has no pending requests).

const DB_NAME = "duo-abroad";
const DB_VERSION = 2;
const SNAPSHOTS = "snapshots";
// Forms (js/outbox.js): drafts by form id, and the outbox of submissions by client id.
export const DRAFTS = "drafts";
export const OUTBOX = "outbox";
// Caches that hold personal data (e.g. offline diploma extracts) carry this prefix; the
// service worker's shell cache holds none and survives sign-out.
export const DATA_CACHE_PREFIX = "duo-data-";

let connection = null;

function open() {
  if (!connection) {
    connection = new Promise((resolve, reject) => {
      const request = indexedDB.open(DB_NAME, DB_VERSION);
      request.onupgradeneeded = (event) => {
        const db = request.result;
        if (event.oldVersion < 1) db.createObjectStore(SNAPSHOTS, { keyPath: "name" });
        if (event.oldVersion < 2) {
          db.createObjectStore(DRAFTS, { keyPath: "formId" });
          db.createObjectStore(OUTBOX, { keyPath: "clientId" });
        }
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

function transact(mode, work) {
  return transactOn(SNAPSHOTS, mode, work);
}

/**
 * One short transaction on one store: `work(store)` issues requests synchronously and returns
 * the one whose result resolves the promise (after the transaction completed). Never awaits
 * anything else inside, so nothing waits on the network while a transaction is open.
 */
export async function transactOn(storeName, mode, work) {
  const db = await open();
  return new Promise((resolve, reject) => {
    const tx = db.transaction(storeName, mode);
    const request = work(tx.objectStore(storeName));
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

/**
 * Held while the outbox is sent (outbox.js, in a tab or the service worker) and while personal
 * data is wiped: a wipe never runs in the middle of a replay, so nothing of the person who
 * signed out is written back after it (a shared device's next user would see it).
 */
export const OUTBOX_LOCK = "duo-outbox-replay";

/** Remove every piece of personal data this app keeps in the browser (sign-out). */
export async function clearPersonalData() {
  const locks = self.navigator?.locks;
  return locks ? locks.request(OUTBOX_LOCK, wipe) : wipe();
}

async function wipe() {
  if (await databaseExists()) {
    // Empty the store first: that works at once even if another tab holds the database
    // open, while deleteDatabase waits for every connection to close.
    try {
      const db = await open();
      await new Promise((resolve, reject) => {
        const tx = db.transaction(db.objectStoreNames, "readwrite");
        for (const name of db.objectStoreNames) tx.objectStore(name).clear();
        tx.oncomplete = resolve;
        tx.onerror = tx.onabort = () => reject(tx.error);
      });
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
