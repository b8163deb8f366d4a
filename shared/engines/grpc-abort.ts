/** Cancelling a Google client library's RPC when the caller's signal aborts (Document AI, Speech-to-Text, Text-to-Speech). */
import { grpc } from 'google-gax';

/** A gRPC interceptor that cancels the call when `signal` aborts (and at once when it already has). */
export function abortInterceptor(signal: AbortSignal): grpc.Interceptor {
  return (options, nextCall) => {
    let onAbort: (() => void) | undefined;
    const call: grpc.InterceptingCall = new grpc.InterceptingCall(nextCall(options), {
      start(metadata, _listener, next) {
        next(metadata, {
          onReceiveStatus(status, nextStatus) {
            if (onAbort) signal.removeEventListener('abort', onAbort);
            nextStatus(status);
          },
        });
        onAbort = () => call.cancelWithStatus(grpc.status.CANCELLED, 'aborted by the caller');
        if (signal.aborted) onAbort();
        else signal.addEventListener('abort', onAbort, { once: true });
      },
    });
    return call;
  };
}
