// The app's routes, from the URL fragment: #/activate, #/access, #/recover, #/link/<token>,
// #/security, #/notifications, #/extracts[/<id>], #/forms[/<id>], #/wallet/<diplomaId>,
// #/verify/<jws>; anything else is home (an anchor on the dashboard, e.g. #deadlines).

/** { name, ...parameters } of a location.hash. */
export function parseRoute(hash) {
  if (!hash.startsWith("#/")) return { name: "home", anchor: decodeURIComponent(hash.slice(1)) };
  const [name, ...rest] = hash.slice(2).split("/");
  if (name === "link") return { name: "deviceLink", token: rest.join("/") };
  if (["activate", "access", "recover", "security", "notifications"].includes(name)) return { name };
  if (name === "extracts" || name === "forms" || name === "wallet") {
    return { name, id: decodeURIComponent(rest[0] ?? "") };
  }
  // The JWS rides in the fragment (extracts/render.py): it never reaches a server.
  if (name === "verify") return { name, token: rest.join("/") };
  return { name: "home", anchor: "" };
}
