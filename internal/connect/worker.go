package connect

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/peerplane/peerplane/internal/control"
)

// worker runs one connector: attempts, each from Kafka client to
// destination, until one fails; then FAILED, a wait (1s doubling to
// MaxBackoff; back to 1s after progress) and another attempt.
type worker struct {
	rt   *Runtime
	spec spec
	log  *slog.Logger

	cancel context.CancelFunc
	done   chan struct{}

	host Host // owned by the worker's goroutine

	mu       sync.Mutex
	run      control.ConnectorRun
	dirty    bool // counts changed since the last store
	stored   bool // the run was stored once
	failed   bool // the last attempt failed and nothing was delivered since
	progress chan struct{}
}

func newWorker(rt *Runtime, s spec) *worker {
	return &worker{rt: rt, spec: s, done: make(chan struct{}), progress: make(chan struct{}, 1),
		log: rt.log.With("connector", s.Connector.Name, "cluster", s.ClusterID, "class", s.Connector.Config["connector.class"])}
}

func (w *worker) start(parent context.Context) {
	ctx, cancel := context.WithCancel(context.WithoutCancel(parent))
	w.cancel = cancel
	go func() {
		defer close(w.done)
		w.main(ctx)
	}()
}

func (w *worker) stop() { w.cancel() }
func (w *worker) wait() { <-w.done }

// main loads the run to resume, flushes counts while running, and runs
// attempts until ctx is done; it stores the last counts and releases the
// host before returning.
func (w *worker) main(ctx context.Context) {
	k := w.spec.Connector
	now := w.rt.cfg.Now()
	w.run = control.ConnectorRun{ClusterID: w.spec.ClusterID, Name: k.Name, Generation: k.CreatedAt, ConfigAt: k.UpdatedAt,
		State: control.ConnectorRunning, Since: now, Worker: w.rt.cfg.Worker}
	if prev, err := w.rt.cfg.Control.FindConnectorRun(ctx, w.spec.ClusterID, k.Name); err == nil && prev.Generation.Equal(k.CreatedAt) {
		// Resume the counts, the last error and a source's position.
		w.run.RecordsIn, w.run.RecordsOut, w.run.RecordsDLQ = prev.RecordsIn, prev.RecordsOut, prev.RecordsDLQ
		w.run.LastError, w.run.LastErrorAt, w.run.Offset = prev.LastError, prev.LastErrorAt, prev.Offset
		if prev.State == control.ConnectorFailed {
			w.run.State, w.run.Since, w.failed = control.ConnectorFailed, prev.Since, true
		}
	}
	w.log.Info("connector starting")
	var flushers sync.WaitGroup
	fctx, stopFlush := context.WithCancel(ctx)
	flushers.Add(1)
	go func() { defer flushers.Done(); w.flushLoop(fctx) }()
	defer func() {
		stopFlush()
		flushers.Wait()
		if w.host != nil {
			w.host.Release()
		}
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		w.store(sctx)
		w.log.Info("connector stopped")
	}()

	backoff := time.Second
	for ctx.Err() == nil {
		err := w.attempt(ctx)
		if ctx.Err() != nil {
			return
		}
		if err == nil {
			err = errors.New("the connector's task ended")
		}
		w.fail(ctx, err)
		select {
		case <-w.progress:
			backoff = time.Second // it got somewhere before failing
		default:
		}
		w.log.Warn("connector failed; trying again", "err", err, "in", backoff)
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, w.rt.cfg.MaxBackoff)
	}
}

// attempt runs the connector once, until ctx is done or it fails.
func (w *worker) attempt(ctx context.Context) error {
	if w.host != nil {
		select {
		case <-w.host.Done():
			w.log.Info("connector host gone; claiming another", "err", w.host.Err())
			w.host = nil
		default:
		}
	}
	if w.host == nil {
		cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		h, err := w.rt.cfg.Hosts.Claim(cctx, w.spec.VNetID, "connector "+w.spec.key())
		cancel()
		if err != nil {
			return fmt.Errorf("place the connector in the network's VNet: %w", err)
		}
		w.host = h
		w.mu.Lock()
		w.run.Address = h.Addr()
		w.mu.Unlock()
	}
	brokers, err := w.rt.cfg.Endpoints.Bootstrap(ctx, w.spec.ClusterID)
	if err != nil {
		return fmt.Errorf("the Kafka endpoint of cluster %s: %w", w.spec.ClusterID, err)
	}
	if len(brokers) == 0 {
		return fmt.Errorf("the Kafka endpoint of cluster %s has no broker", w.spec.ClusterID)
	}
	t, err := newTask(w)
	if err != nil {
		return err
	}
	return t.run(ctx, w.kafka(brokers))
}

// kafka returns client options that reach brokers from the worker's host.
func (w *worker) kafka(brokers []string) []kgo.Opt {
	host := w.host
	return []kgo.Opt{
		kgo.SeedBrokers(brokers...),
		kgo.ClientID("connect-" + control.ConnectorID(w.spec.ClusterID, w.spec.Connector.Name)),
		kgo.Dialer(func(ctx context.Context, network, addr string) (net.Conn, error) {
			dctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			defer cancel()
			return host.DialContext(dctx, network, addr)
		}),
		kgo.RecordDeliveryTimeout(20 * time.Second),
		kgo.RetryTimeout(20 * time.Second),
	}
}

// dial connects from the worker's host.
func (w *worker) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	return w.host.DialContext(ctx, network, addr)
}

// task is one attempt of a connector class.
type task interface {
	run(ctx context.Context, kafka []kgo.Opt) error
}

func newTask(w *worker) (task, error) {
	k := w.spec.Connector
	switch strings.TrimSpace(k.Config["connector.class"]) {
	case control.ClassDatagenSource:
		c, err := control.ParseDatagen(k.Config)
		if err != nil {
			return nil, configErr(err)
		}
		return &datagen{w: w, cfg: c}, nil
	case control.ClassHttpSink:
		c, err := control.ParseHTTPSink(w.spec.ClusterID, k.Name, k.Config)
		if err != nil {
			return nil, configErr(err)
		}
		return &sink{w: w, topics: c.Topics, batch: c.BatchMaxSize, errs: c.Errors, dest: newHTTPDest(w, c)}, nil
	case control.ClassPostgresSink:
		c, err := control.ParsePostgresSink(w.spec.ClusterID, k.Name, k.Config)
		if err != nil {
			return nil, configErr(err)
		}
		return &sink{w: w, topics: c.Topics, batch: c.BatchSize, errs: c.Errors, dest: newPostgresDest(w, c)}, nil
	}
	return nil, fmt.Errorf("connector class %q is not one Peerplane runs", k.Config["connector.class"])
}

func configErr(err error) error {
	return fmt.Errorf("the connector's config: %s", control.ErrorMessage(err))
}

// --- reporting ---

// counted adds to the run's counts.
func (w *worker) counted(in, out, dlq int64) {
	w.mu.Lock()
	w.run.RecordsIn += in
	w.run.RecordsOut += out
	w.run.RecordsDLQ += dlq
	w.dirty = true
	w.mu.Unlock()
}

// setOffset records a source's position.
func (w *worker) setOffset(off string) {
	w.mu.Lock()
	w.run.Offset, w.dirty = off, true
	w.mu.Unlock()
}

// offset returns a source's stored position.
func (w *worker) offset() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.run.Offset
}

// isFailed reports whether the connector is FAILED.
func (w *worker) isFailed() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.failed
}

// ok records that the connector works: records were delivered, or it has
// caught up. A FAILED connector turns RUNNING, stored at once.
func (w *worker) ok(ctx context.Context) {
	select {
	case w.progress <- struct{}{}:
	default:
	}
	w.mu.Lock()
	changed := w.run.State != control.ConnectorRunning || !w.stored
	if w.run.State != control.ConnectorRunning {
		w.run.State, w.run.Since, w.failed = control.ConnectorRunning, w.rt.cfg.Now(), false
	}
	w.mu.Unlock()
	if changed {
		w.log.Info("connector running")
		w.store(ctx)
	}
}

// noted records an error that did not stop the connector (records sent
// to the dead-letter topic), stored at once.
func (w *worker) noted(ctx context.Context, err error) {
	w.mu.Lock()
	w.run.LastError, w.run.LastErrorAt = err.Error(), w.rt.cfg.Now()
	w.mu.Unlock()
	w.store(ctx)
}

// fail records a failed attempt: FAILED with err, stored at once.
func (w *worker) fail(ctx context.Context, err error) {
	now := w.rt.cfg.Now()
	w.mu.Lock()
	if w.run.State != control.ConnectorFailed {
		w.run.State, w.run.Since = control.ConnectorFailed, now
	}
	w.failed = true
	w.run.LastError, w.run.LastErrorAt = err.Error(), now
	w.mu.Unlock()
	w.store(ctx)
}

// store writes the run.
func (w *worker) store(ctx context.Context) {
	w.mu.Lock()
	run := w.run
	w.dirty = false
	w.mu.Unlock()
	err := w.rt.cfg.Control.PutConnectorRun(ctx, &run)
	if err == nil {
		w.mu.Lock()
		w.stored = true
		w.mu.Unlock()
	} else if ctx.Err() == nil {
		switch control.ErrorCode(err) {
		case control.ENOTFOUND, control.ECONFLICT:
			w.log.Debug("store connector run: the connector is gone", "err", err)
		default:
			w.log.Warn("store connector run", "err", err)
			w.mu.Lock()
			w.dirty = true
			w.mu.Unlock()
		}
	}
}

func (w *worker) flushLoop(ctx context.Context) {
	t := time.NewTicker(w.rt.cfg.Flush)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			w.mu.Lock()
			dirty := w.dirty
			w.mu.Unlock()
			if dirty {
				w.store(ctx)
			}
		}
	}
}
