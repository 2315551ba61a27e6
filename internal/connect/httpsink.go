package connect

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/peerplane/peerplane/internal/control"
)

// httpDest is an HttpSink's destination: each batch of at most
// batch.max.size record values, joined by batch.separator between
// batch.prefix and batch.suffix (a JSON array with batch.json.as.array),
// is sent to http.api.url. A failed request is retried max.retries times,
// waiting retry.backoff.ms doubling (at most 30s): when no answer came
// (connection refused, timeout), the batch fails the attempt and stays
// uncommitted; when the API answered an error (408, 429 and 5xx are
// retried; other 4xx are not), its records go to the dead-letter topic.
type httpDest struct {
	w      *worker
	cfg    control.HTTPSinkConfig
	client *http.Client
}

func newHTTPDest(w *worker, cfg control.HTTPSinkConfig) *httpDest {
	return &httpDest{w: w, cfg: cfg}
}

func (d *httpDest) open(ctx context.Context) error {
	d.client = &http.Client{
		Timeout: d.cfg.RequestTimeout,
		Transport: &http.Transport{
			DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
				dctx, cancel := context.WithTimeout(ctx, d.cfg.ConnectTimeout)
				defer cancel()
				return d.w.dial(dctx, network, addr)
			},
			// A connection per request: security groups are stateful, so a
			// rule added while a connection is open would not apply to it.
			DisableKeepAlives: true,
		},
	}
	return nil
}

func (d *httpDest) close() {
	if d.client != nil {
		d.client.CloseIdleConnections()
	}
}

func (d *httpDest) deliver(ctx context.Context, recs []*kgo.Record) ([]rejected, error) {
	var refused []rejected
	for len(recs) > 0 {
		n := min(len(recs), d.cfg.BatchMaxSize)
		batch := recs[:n]
		recs = recs[n:]
		err := d.send(ctx, batch)
		if err == nil {
			continue
		}
		if _, answered := err.(*statusError); !answered {
			return nil, err
		}
		for _, r := range batch {
			refused = append(refused, rejected{rec: r, err: err})
		}
	}
	return refused, nil
}

// statusError is an error answer of the API.
type statusError struct {
	method, url string
	status      int
	body        string
}

func (e *statusError) Error() string {
	return fmt.Sprintf("%s %s: the API answered %d %s: %s", e.method, e.url, e.status, http.StatusText(e.status), e.body)
}

func retriable(status int) bool {
	return status == http.StatusRequestTimeout || status == http.StatusTooManyRequests || status >= 500
}

// send sends one batch with its retries.
func (d *httpDest) send(ctx context.Context, batch []*kgo.Record) error {
	var body bytes.Buffer
	body.WriteString(d.cfg.Prefix)
	for i, r := range batch {
		if i > 0 {
			body.WriteString(d.cfg.Separator)
		}
		body.Write(r.Value)
	}
	body.WriteString(d.cfg.Suffix)
	wait := d.cfg.RetryBackoff
	for attempt := 0; ; attempt++ {
		err := d.post(ctx, body.Bytes())
		if err == nil {
			return nil
		}
		if se, ok := err.(*statusError); ok && !retriable(se.status) {
			return err
		}
		if attempt >= d.cfg.MaxRetries || ctx.Err() != nil {
			if attempt > 0 {
				return fmt.Errorf("%w (after %d retries)", err, attempt)
			}
			return err
		}
		d.w.log.Debug("http sink: retrying", "err", err, "in", wait)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(wait):
		}
		wait = min(2*wait, 30*time.Second)
	}
}

func (d *httpDest) post(ctx context.Context, body []byte) error {
	req, err := http.NewRequestWithContext(ctx, d.cfg.Method, d.cfg.URL, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("request to %s: %w", d.cfg.URL, err)
	}
	if d.cfg.JSON {
		req.Header.Set("Content-Type", "application/json")
	} else {
		req.Header.Set("Content-Type", "text/plain; charset=utf-8")
	}
	resp, err := d.client.Do(req)
	if err != nil {
		return err // *url.Error: "Post "http://…": dial tcp …: connect: connection refused"
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	if resp.StatusCode/100 != 2 {
		return &statusError{method: d.cfg.Method, url: d.cfg.URL, status: resp.StatusCode, body: short(string(b), 200)}
	}
	return nil
}
