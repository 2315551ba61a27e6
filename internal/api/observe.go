package api

import (
	"context"
	"log/slog"
	"net/http"
	"time"
)

// RequestIDHeader carries a request's id on every response, as Confluent
// Cloud's API sends it. The same id is the id of the error in a Failure
// body and the request_id of the access log line.
const RequestIDHeader = "X-Request-Id"

// maxClientRequestID bounds a request id a client may choose.
const maxClientRequestID = 128

// Record is what the access log says of one served request.
type Record struct {
	ID     string
	Method string
	// Route is the ServeMux pattern that matched, such as
	// "GET /networking/v1/peerings/{id}"; empty when none did (a 405).
	Route    string
	Status   int
	Bytes    int64
	Duration time.Duration
}

// Observer is the one place requests are observed: it gives each request
// its id (RequestIDHeader), records its status, size and duration, and
// writes one access log line per request when it is done.
type Observer struct {
	// Logger receives the access log: one line per request at info, at
	// debug for Quiet routes. Nil discards.
	Logger *slog.Logger
	// Quiet lists routes (ServeMux patterns, e.g. "GET /healthz") logged at
	// debug, so that probes do not drown the log.
	Quiet []string
	// Observe, when set, is called with each request's record once it is
	// served (metrics hook here).
	Observe func(r *http.Request, rec Record)
	// Now is the clock durations are measured with; nil means time.Now.
	Now func() time.Time
}

type observedKey struct{}

// observation is the request's record while it is served.
type observation struct{ rec Record }

// requestID returns the id the Observer gave the request of ctx, or "" when
// it was not observed.
func requestID(ctx context.Context) string {
	if o, ok := ctx.Value(observedKey{}).(*observation); ok {
		return o.rec.ID
	}
	return ""
}

// Wrap returns h observed. A request that an Observer already wraps (a
// handler nested in another observed one) is passed through untouched, so
// each request is logged once, with one id.
func (o Observer) Wrap(h http.Handler) http.Handler {
	now := o.Now
	if now == nil {
		now = time.Now
	}
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	quiet := make(map[string]bool, len(o.Quiet))
	for _, q := range o.Quiet {
		quiet[q] = true
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if requestID(r.Context()) != "" {
			h.ServeHTTP(w, r)
			return
		}
		start := now()
		ob := &observation{rec: Record{ID: clientRequestID(r.Header.Get(RequestIDHeader)), Method: r.Method}}
		if ob.rec.ID == "" {
			ob.rec.ID = newRequestID()
		}
		w.Header().Set(RequestIDHeader, ob.rec.ID)
		rw := &recordingWriter{ResponseWriter: w, rec: &ob.rec}
		r = r.WithContext(context.WithValue(r.Context(), observedKey{}, ob))
		defer func() {
			p := recover()
			// ServeMux sets the pattern on the request it routes; nested
			// muxes route this same request, so the innermost pattern wins.
			ob.rec.Route = r.Pattern
			ob.rec.Duration = now().Sub(start)
			switch {
			case ob.rec.Status != 0:
			case p != nil:
				ob.rec.Status = http.StatusInternalServerError // net/http aborts the response
			default:
				ob.rec.Status = http.StatusOK // nothing written: net/http answers 200
			}
			o.done(log, quiet, r, ob.rec)
			if p != nil {
				panic(p)
			}
		}()
		h.ServeHTTP(rw, r)
	})
}

// done logs rec and hands it to the Observe hook.
func (o Observer) done(log *slog.Logger, quiet map[string]bool, r *http.Request, rec Record) {
	level := slog.LevelInfo
	if quiet[rec.Route] {
		level = slog.LevelDebug
	}
	if ctx := r.Context(); log.Enabled(ctx, level) {
		log.LogAttrs(ctx, level, "http request",
			slog.String("request_id", rec.ID), slog.String("method", rec.Method), slog.String("route", rec.Route),
			slog.Int("status", rec.Status), slog.Int64("bytes", rec.Bytes), slog.Duration("duration", rec.Duration))
	}
	if o.Observe != nil {
		o.Observe(r, rec)
	}
}

// clientRequestID returns the id a client sent when it is safe to echo
// (1 to 128 letters, digits, '-', '_', '.' or ':'), else "".
func clientRequestID(id string) string {
	if id == "" || len(id) > maxClientRequestID {
		return ""
	}
	for _, c := range []byte(id) {
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', c == '-', c == '_', c == '.', c == ':':
		default:
			return ""
		}
	}
	return id
}

// recordingWriter records the status and the bytes of a response.
type recordingWriter struct {
	http.ResponseWriter
	rec *Record
}

func (w *recordingWriter) WriteHeader(status int) {
	if w.rec.Status == 0 && status >= 200 {
		w.rec.Status = status
	}
	w.ResponseWriter.WriteHeader(status)
}

func (w *recordingWriter) Write(b []byte) (int, error) {
	if w.rec.Status == 0 {
		w.rec.Status = http.StatusOK
	}
	n, err := w.ResponseWriter.Write(b)
	w.rec.Bytes += int64(n)
	return n, err
}

// Flush lets streamed responses (the console's server-sent events) through.
func (w *recordingWriter) Flush() { http.NewResponseController(w.ResponseWriter).Flush() }

// Unwrap gives http.ResponseController the underlying writer.
func (w *recordingWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
