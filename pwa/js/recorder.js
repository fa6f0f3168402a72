// The liveness video of an access request: the front camera and microphone, recorded in the
// app with MediaRecorder for a few seconds, small enough for a slow network (the server takes
// WebM or MP4 and checks the container: README, "DUO staff").

// Browsers record different containers: Chromium and Firefox WebM, Safari MP4.
const TYPES = ["video/webm;codecs=vp8,opus", "video/webm", "video/mp4;codecs=avc1,mp4a", "video/mp4"];
export const MAX_SECONDS = 8;
export const MIN_SECONDS = 3;

/**
 * Why the camera cannot be used, as a code:
 *   DENIED       the person (or a browser policy) refused camera or microphone
 *   MISSING      no camera or microphone on this device (or it is busy)
 *   UNSUPPORTED  no getUserMedia or MediaRecorder in this browser
 *   FAILED       anything else
 */
export class CameraError extends Error {
  constructor(code, options) {
    super(`camera: ${code}`, options);
    this.name = "CameraError";
    this.code = code;
  }
}

export function supported() {
  return Boolean(navigator.mediaDevices?.getUserMedia) && typeof globalThis.MediaRecorder === "function";
}

function recordingType() {
  return TYPES.find((type) => MediaRecorder.isTypeSupported(type)) ?? "";
}

/** The front camera and the microphone (asks for permission: call it from a tap). */
export async function openCamera() {
  if (!supported()) throw new CameraError("UNSUPPORTED");
  try {
    return await navigator.mediaDevices.getUserMedia({
      // Enough to see a face and a document; small enough for a slow upload.
      video: { facingMode: "user", width: { ideal: 640 }, height: { ideal: 480 }, frameRate: { ideal: 24 } },
      audio: { echoCancellation: true, noiseSuppression: true },
    });
  } catch (error) {
    const code = {
      NotAllowedError: "DENIED",
      SecurityError: "DENIED",
      NotFoundError: "MISSING",
      OverconstrainedError: "MISSING",
      NotReadableError: "MISSING",
    }[error?.name];
    throw new CameraError(code ?? "FAILED", { cause: error });
  }
}

export function closeCamera(stream) {
  for (const track of stream?.getTracks() ?? []) track.stop();
}

/**
 * Record `stream` until stop() or MAX_SECONDS; resolves to { blob, type, seconds }.
 * Returns { done, stop }: `onTick(seconds)` hears every second.
 */
export function record(stream, { onTick } = {}) {
  const type = recordingType();
  const recorder = new MediaRecorder(stream, {
    ...(type ? { mimeType: type } : {}),
    videoBitsPerSecond: 600_000,
    audioBitsPerSecond: 48_000,
  });
  const parts = [];
  const started = performance.now();
  let ticker = null;
  const done = new Promise((resolve, reject) => {
    recorder.addEventListener("dataavailable", (event) => {
      if (event.data.size) parts.push(event.data);
    });
    recorder.addEventListener("error", (event) => reject(new CameraError("FAILED", { cause: event.error })));
    recorder.addEventListener("stop", () => {
      clearInterval(ticker);
      const blobType = (recorder.mimeType || type || "video/webm").split(";")[0];
      resolve({
        blob: new Blob(parts, { type: blobType }),
        type: blobType,
        seconds: Math.round((performance.now() - started) / 1000),
      });
    });
  });
  recorder.start();
  let elapsed = 0;
  ticker = setInterval(() => {
    elapsed += 1;
    onTick?.(elapsed);
    if (elapsed >= MAX_SECONDS && recorder.state === "recording") recorder.stop();
  }, 1000);
  return {
    done,
    stop: () => {
      if (recorder.state === "recording") recorder.stop();
    },
  };
}

/** The file name the server expects for the container recorded. */
export function fileName(type) {
  return type === "video/mp4" ? "liveness.mp4" : "liveness.webm";
}
