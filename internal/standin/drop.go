package standin

import "net/http"

// Drop closes the connection of a handler's request without an answer, as a server that went away mid-request
// does. Where the connection cannot be taken over, it aborts the handler (http.ErrAbortHandler).
func Drop(w http.ResponseWriter) {
	if hj, ok := w.(http.Hijacker); ok {
		if conn, _, err := hj.Hijack(); err == nil {
			_ = conn.Close()
			return
		}
	}
	panic(http.ErrAbortHandler)
}
