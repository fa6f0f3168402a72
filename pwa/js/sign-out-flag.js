// Set while a sign-out could not reach the server: the session cookie (HttpOnly) is still
// valid, so the next time we are online the sign-out is finished before anything is loaded.
// It remembers whether the person chose to keep their waiting forms on this device (the
// second clean-up, after the server answered, must not discard what they kept).

const PENDING_SIGN_OUT = "duo.signOutPending";
const KEEPING = "keep";

/** A sign-out is still to be finished on the server. */
export function pendingSignOut() {
  return read() !== null;
}

/** The pending sign-out keeps the person's waiting forms (else they were discarded or sent). */
export function pendingSignOutKeeps() {
  return read() === KEEPING;
}

export function setPendingSignOut(pending, { keepWaiting = false } = {}) {
  try {
    if (pending) localStorage.setItem(PENDING_SIGN_OUT, keepWaiting ? KEEPING : "1");
    else localStorage.removeItem(PENDING_SIGN_OUT);
  } catch {
    /* private mode: the server-side sign-out is then only tried once */
  }
}

function read() {
  try {
    return localStorage.getItem(PENDING_SIGN_OUT);
  } catch {
    return null;
  }
}
