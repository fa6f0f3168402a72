// Set while a sign-out could not reach the server: the session cookie (HttpOnly) is still
// valid, so the next time we are online the sign-out is finished before anything is loaded.

const PENDING_SIGN_OUT = "duo.signOutPending";

/** A sign-out is still to be finished on the server. */
export function pendingSignOut() {
  try {
    return localStorage.getItem(PENDING_SIGN_OUT) === "1";
  } catch {
    return false;
  }
}

export function setPendingSignOut(pending) {
  try {
    if (pending) localStorage.setItem(PENDING_SIGN_OUT, "1");
    else localStorage.removeItem(PENDING_SIGN_OUT);
  } catch {
    /* private mode: the server-side sign-out is then only tried once */
  }
}
