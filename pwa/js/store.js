// Personal data kept on this device (IndexedDB): the last loaded snapshot of each query, and
// forms (drafts, the outbox), which vault.js seals for their owner. Transactions here never
// wait on the network: fetch first, then open a transaction to store the result (a transaction
// auto-commits as soon as it has no pending requests).

const DB_NAME = "duo-abroad";
const DB_VERSION = 3;
const SNAPSHOTS = "snapshots";
// Forms (js/outbox.js): drafts by owner and form ("<owner>/<formId>"), the outbox of
// submissions by client id, and whose they are (js/vault.js: the "owner" record).
export const DRAFTS = "drafts";
export const OUTBOX = "outbox";
export const KEYS = "keys";
export const OWNER_RECORD = "owner";
// Outbox entries in these states have not reached DUO: a session that ends keeps them.
export const WAITING_STATES = new Set(["queued", "sending", "attention", "retired"]);
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
        if (event.oldVersion < 2) db.createObjectStore(OUTBOX, { keyPath: "clientId" });
        if (event.oldVersion < 3) {
          db.createObjectStore(KEYS, { keyPath: "name" });
          if (event.oldVersion < 2) {
            db.createObjectStore(DRAFTS, { keyPath: "id" });
          } else {
            // Version 2 kept one draft per form: now one per form and person. Its drafts
            // move over with no owner (js/vault.js seals them for the next owner it learns).
            const old = request.transaction.objectStore(DRAFTS).getAll();
            old.onsuccess = () => {
              db.deleteObjectStore(DRAFTS);
              const drafts = db.createObjectStore(DRAFTS, { keyPath: "id" });
              for (const draft of old.result) drafts.put({ ...draft, id: `/${draft.formId}` });
            };
          }
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
 * the one whose result resolves the promise (after the transaction completed; undefined when
 * reading a database that does not exist). Never awaits anything else inside, so nothing
 * waits on the network while a transaction is open.
 */
export async function transactOn(storeName, mode, work) {
  // Opening a database that does not exist creates it: reading needs none (after sign-out).
  if (mode === "readonly" && !(await databaseExists())) return undefined;
  const db = await open();
  return new Promise((resolve, reject) => {
    const tx = db.transaction(storeName, mode);
    const request = work(tx.objectStore(storeName));
    tx.oncomplete = () => resolve(request?.result);
    tx.onerror = () => reject(tx.error);
    tx.onabort = () => reject(tx.error ?? new Error("IndexedDB transaction aborted"));
  });
}

/** Like transactOn, over several stores: `work(tx)` issues the requests; resolves on commit. */
export async function transactOnAll(storeNames, mode, work) {
  const db = await open();
  return new Promise((resolve, reject) => {
    const tx = db.transaction(storeNames, mode);
    work(tx);
    tx.oncomplete = () => resolve();
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

/**
 * Remove the personal data this app keeps in the browser: at sign-out, and when the session
 * ended. What goes: the dashboard and other snapshots, stored extracts, and outbox entries DUO
 * has received (their receipts stay on the server). What stays: forms that have not reached
 * DUO (drafts and waiting outbox entries) of anyone else, sealed (js/vault.js) — and with
 * `keepWaiting` those of the person signing out too, while the key that opens them goes, so
 * that they stay unreadable until that person signs in again. README.md, Forms, "What the
 * outbox guarantees".
 */
export async function clearPersonalData({ keepWaiting = false } = {}) {
  const locks = self.navigator?.locks;
  const work = () => forget({ keepWaiting });
  return locks ? locks.request(OUTBOX_LOCK, work) : work();
}

async function forget({ keepWaiting }) {
  if (await databaseExists()) {
    let kept = 0;
    try {
      await transactOnAll([SNAPSHOTS, OUTBOX, DRAFTS, KEYS], "readwrite", (tx) => {
        tx.objectStore(SNAPSHOTS).clear();
        const keys = tx.objectStore(KEYS);
        keys.get(OWNER_RECORD).onsuccess = (event) => {
          const record = event.target.result;
          // Theirs: bound to them, or saved in clear while no owner was known.
          const theirs = (value) => !value.owner || value.owner === record?.owner;
          const discard = (value) => !keepWaiting && theirs(value);
          if (record && keepWaiting) keys.put({ ...record, key: null });
          else if (record) keys.delete(OWNER_RECORD);
          eachRecord(tx.objectStore(OUTBOX), (cursor) => {
            const entry = cursor.value;
            if (!WAITING_STATES.has(entry.state) || discard(entry)) return cursor.delete();
            kept += 1;
            // A replay that was interrupted: the entry waits again.
            if (entry.state === "sending") cursor.update({ ...entry, state: "queued" });
            return undefined;
          });
          eachRecord(tx.objectStore(DRAFTS), (cursor) => {
            if (discard(cursor.value)) cursor.delete();
            else kept += 1;
          });
        };
      });
    } catch (error) {
      // Never the whole database on a failure here: it may hold someone's waiting forms.
      console.warn(error);
      kept = -1;
      await transactOn(SNAPSHOTS, "readwrite", (s) => s.clear()).catch(() => undefined);
    }
    if (kept === 0) await deleteDatabase();
  }
  await deleteDataCaches();
}

function eachRecord(store, visit) {
  store.openCursor().onsuccess = (event) => {
    const cursor = event.target.result;
    if (!cursor) return;
    visit(cursor);
    cursor.continue();
  };
}

// Nothing left worth keeping: no trace of the database either (other tabs let go of it).
async function deleteDatabase() {
  if (connection) {
    (await connection.catch(() => null))?.close();
    connection = null;
  }
  await new Promise((resolve) => {
    const request = indexedDB.deleteDatabase(DB_NAME);
    request.onsuccess = request.onerror = request.onblocked = () => resolve();
  });
}

async function deleteDataCaches() {
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
