// Package azureemu is an embedded Azure: the parts of Entra ID (tenants,
// users, app registrations, admin consent, OAuth2 tokens), Microsoft Graph
// (service principals, applications, users) and Azure Resource Manager
// (subscriptions, resource groups, virtual networks and their peerings,
// network security groups, role definitions and assignments) that a
// cross-tenant VNet peering touches, with Azure's RBAC enforced on every ARM
// call.
//
// An *Emulator is an http.Handler. Real Azure clients (the Azure SDK for Go,
// the az CLI) talk to it over HTTPS; ClientOptions and Cloud give the SDK
// settings that point at it. Its state lives in a DocStore and survives
// restarts.
package azureemu

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
)

// DefaultProviderAppID is the client id of Confluent's multi-tenant app,
// which customers consent to.
const DefaultProviderAppID = "f0955e3a-9013-4cf4-a1ea-21587621c9cc"

// AzureCLIClientID is the public client id of the az CLI.
const AzureCLIClientID = "04b07795-8ddb-461a-bbee-02f9e1bf7b46"

// Options configure an Emulator.
type Options struct {
	// BaseURL is the emulator's external address, such as
	// "https://127.0.0.1:8443". It is the token issuer's host, the
	// authority host and the base of long-running operation URLs.
	BaseURL string
	// Store persists the state. Nil keeps it in memory only.
	Store DocStore
	// OperatorToken, when set, lets /_emulator routes be called from
	// other than loopback with "Authorization: Bearer <token>".
	OperatorToken string
	// Logger receives request and change logs. Nil discards them.
	Logger *slog.Logger
	// Now is the clock. Nil means time.Now.
	Now func() time.Time
	// TokenLifetime is how long issued access tokens live; default 1h.
	TokenLifetime time.Duration
	// OnEvents, when set, is given the events of each change once it is
	// durable, in order, so that other processes sharing Store can add
	// them to their feeds (RelayEvents). It runs under the emulator's
	// write lock: it must not block or call the emulator.
	OnEvents func([]Event)
}

// Emulator is the embedded Azure. Use New to make one.
type Emulator struct {
	opts   Options
	base   string
	store  DocStore
	log    *slog.Logger
	now    func() time.Time
	signer *rsa.PrivateKey
	keyID  string
	tokens verifiedTokens // of signer, which never changes

	mu  sync.RWMutex
	st  *state
	gen int64 // generation of st, with a VersionedDocStore
	// version counts the changes to st seen by this process (its own
	// commits and reloads); with instance, a random id of the process, it
	// is the ETag of the network snapshot.
	version  uint64
	instance string
	vs       VersionedDocStore   // e.store, when it is shared
	is       IncrementalDocStore // e.store, when it can tell what changed
	// changed is closed (and replaced) whenever version changes.
	changed chan struct{}

	events *eventLog

	codesMu sync.Mutex
	codes   map[string]*pendingCode // device and authorization codes

	// Hooks for fault injection in tests. Each runs, when set, before the
	// request is served; a non-nil error is answered as a 500.
	BeforeARM func(r *http.Request) error

	// afterGenerationRead, when set, runs in sync between the read of the
	// store's generation and the lock (tests open that window with it).
	afterGenerationRead func()
	// reloads counts the full reloads of the state from the store,
	// catchUps the incremental ones.
	reloads, catchUps atomic.Int64
	// dirty is set when memory may hold a change that is not stored and
	// could not be read back: the next request reloads in full.
	dirty bool
}

// New loads the emulator's state from opts.Store (creating the signing key
// on first start) and returns it.
func New(ctx context.Context, opts Options) (*Emulator, error) {
	if opts.BaseURL == "" {
		return nil, errors.New("azureemu: BaseURL is required")
	}
	e := &Emulator{
		opts:     opts,
		base:     strings.TrimRight(opts.BaseURL, "/"),
		store:    opts.Store,
		log:      opts.Logger,
		now:      opts.Now,
		events:   newEventLog(4096),
		codes:    map[string]*pendingCode{},
		instance: uuid.NewString()[:8],
		changed:  make(chan struct{}),
	}
	if e.store == nil {
		e.store = &MemoryDocStore{}
	}
	e.vs, _ = e.store.(VersionedDocStore)
	e.is, _ = e.store.(IncrementalDocStore)
	if e.log == nil {
		e.log = slog.New(slog.DiscardHandler)
	}
	if e.now == nil {
		e.now = time.Now
	}
	if e.opts.TokenLifetime == 0 {
		e.opts.TokenLifetime = time.Hour
	}
	if err := e.reload(ctx); err != nil {
		return nil, err
	}
	if err := e.ensureSigningKey(ctx); err != nil {
		return nil, err
	}
	return e, nil
}

// BaseURL returns the emulator's external address, without a trailing slash.
func (e *Emulator) BaseURL() string { return e.base }

func (e *Emulator) reload(ctx context.Context) error {
	var gen int64
	if e.vs != nil {
		// Read the generation first: a write landing between the two
		// reads only makes the next sync reload once more.
		g, err := e.vs.Generation(ctx)
		if err != nil {
			return fmt.Errorf("load azure state: %w", err)
		}
		gen = g
	}
	docs, err := e.store.LoadDocs(ctx)
	if err != nil {
		return fmt.Errorf("load azure state: %w", err)
	}
	st := newState()
	for _, d := range docs {
		if err := st.load(d); err != nil {
			return err
		}
	}
	e.st, e.gen, e.dirty = st, gen, false
	e.reloads.Add(1)
	e.bumpVersion()
	return nil
}

// bumpVersion counts a change of the state and wakes Changed's waiters;
// the caller holds e.mu for writing (or is New).
func (e *Emulator) bumpVersion() {
	e.version++
	close(e.changed)
	e.changed = make(chan struct{})
}

// Changed returns a channel closed at the next change of the state that
// is durable: a commit of this process, or a reload after another process
// sharing the store wrote. It lets an in-process follower (the data
// plane, Azure's own packets) take a Snapshot after each change.
func (e *Emulator) Changed() <-chan struct{} {
	e.mu.RLock()
	defer e.mu.RUnlock()
	return e.changed
}

// sync reloads the state when another process sharing the store wrote to
// it since it was loaded. It costs one read of the generation.
//
// The generation is read before the lock is taken, so this process may
// commit in between: the number read is then older than the one held, and
// means nothing new. Only a generation newer than the one held is another
// writer's.
func (e *Emulator) sync(ctx context.Context) error {
	if e.vs == nil {
		return nil
	}
	g, err := e.vs.Generation(ctx)
	if err != nil {
		return err
	}
	if e.afterGenerationRead != nil {
		e.afterGenerationRead()
	}
	e.mu.RLock()
	current := g <= e.gen && !e.dirty
	e.mu.RUnlock()
	if current {
		return nil
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if g <= e.gen && !e.dirty {
		return nil
	}
	return e.refresh(ctx, nil)
}

// refresh brings the state to the store's current one; the caller holds
// e.mu for writing. The state must be as stored at e.gen but for the
// documents in touched (a failed change's), which are read again.
func (e *Emulator) refresh(ctx context.Context, touched []Doc) error {
	var err error
	if e.is != nil && !e.dirty {
		err = e.catchUp(ctx, touched)
	} else {
		err = e.reload(ctx)
	}
	if err != nil && len(touched) > 0 {
		e.dirty = true
	}
	return err
}

// catchUp applies the documents other processes changed since the
// generation held, and those in touched as stored; the caller holds e.mu
// for writing. A document that does not decode makes it fall back to a
// full reload.
func (e *Emulator) catchUp(ctx context.Context, touched []Doc) error {
	puts, deletes, g, err := e.is.ChangesSince(ctx, e.gen, touched)
	if err != nil {
		return fmt.Errorf("load azure changes: %w", err)
	}
	for _, d := range deletes {
		e.st.drop(d.Kind, d.Key)
	}
	for _, d := range puts {
		if err := e.st.load(d); err != nil {
			e.log.Error("load azure changes", "err", err)
			return e.reload(ctx)
		}
	}
	e.gen = g
	e.catchUps.Add(1)
	e.bumpVersion()
	return nil
}

// Loads reports how often the state was read from the store: in full (at
// start, and after a write that failed or was based on a state another
// process had changed) and incrementally (catching up with other
// processes' writes, with an IncrementalDocStore).
func (e *Emulator) Loads() (full, incremental int64) {
	return e.reloads.Load(), e.catchUps.Load()
}

// update runs fn under the write lock and persists what it recorded. If fn
// fails nothing is persisted, and if persisting fails the in-memory state
// is reloaded from the store so that it matches what is durable. With a
// shared store, a change based on a state another process has since
// changed is re-run on the fresh state.
func (e *Emulator) update(ctx context.Context, fn func(t *txn) error) error {
	for attempt := 0; ; attempt++ {
		err := e.tryUpdate(ctx, fn)
		if !errors.Is(err, ErrStaleGeneration) || attempt == 4 {
			return err
		}
	}
}

func (e *Emulator) tryUpdate(ctx context.Context, fn func(t *txn) error) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	t := &txn{s: e.st, puts: map[[2]string]any{}, deletes: map[[2]string]bool{}}
	ferr := fn(t)
	if len(t.puts) == 0 && len(t.deletes) == 0 {
		return ferr
	}
	if ferr != nil {
		// fn changed memory before failing: put it back as stored.
		if err := e.refresh(ctx, t.touched()); err != nil {
			return errors.Join(ferr, err)
		}
		return ferr
	}
	puts, deletes, sums, err := t.docs()
	if err == nil && len(puts) == 0 && len(deletes) == 0 {
		// Every put was the stored document again: nothing changed, if
		// the state compared with is still the stored one. Another
		// process's write since would make this a lost update: re-run
		// the change on its state.
		if e.vs != nil {
			g, gerr := e.vs.Generation(ctx)
			if gerr != nil {
				return fmt.Errorf("persist azure state: %w", gerr)
			}
			if g != e.gen {
				// Memory holds what is stored at e.gen: catching up
				// is enough.
				if rerr := e.refresh(ctx, nil); rerr != nil {
					return rerr
				}
				return ErrStaleGeneration
			}
		}
		return nil
	}
	if err == nil {
		wctx := context.WithoutCancel(ctx)
		if e.vs != nil {
			var gen int64
			if gen, err = e.vs.ApplyDocsAt(wctx, e.gen, puts, deletes); err == nil {
				e.gen = gen
			}
		} else {
			err = e.store.ApplyDocs(wctx, puts, deletes)
		}
	}
	if err != nil {
		if !errors.Is(err, ErrStaleGeneration) {
			e.log.Error("persist azure state", "err", err)
		}
		// Memory holds the change that was not stored: read its
		// documents back with the others' changes.
		if rerr := e.refresh(ctx, t.touched()); rerr != nil {
			return errors.Join(err, rerr)
		}
		if errors.Is(err, ErrStaleGeneration) {
			return err
		}
		return fmt.Errorf("persist azure state: %w", err)
	}
	events := t.changedEvents(sums)
	e.st.committed(sums, deletes)
	e.bumpVersion()
	now := e.now()
	actor := actorOf(ctx)
	for i := range events {
		events[i].Actor = actor
		events[i] = e.events.append(events[i], now)
	}
	if e.opts.OnEvents != nil && len(events) > 0 {
		e.opts.OnEvents(events)
	}
	return nil
}

// RelayEvents adds events another process sharing the store emitted (its
// OnEvents) to this emulator's feed, so that a consumer of any process's
// /_emulator/events sees every change. They are numbered in this feed's
// order; their times are kept.
func (e *Emulator) RelayEvents(evs []Event) {
	for _, ev := range evs {
		e.events.append(ev, ev.Time)
	}
}

// stateVersion is the ETag of the current state (see NetworkSnapshot).
func (e *Emulator) stateVersion() string {
	e.mu.RLock()
	defer e.mu.RUnlock()
	return e.versionLocked()
}

func (e *Emulator) versionLocked() string { return fmt.Sprintf(`"%s-%d"`, e.instance, e.version) }

// view runs fn under the read lock.
func (e *Emulator) view(fn func(s *state)) {
	e.mu.RLock()
	defer e.mu.RUnlock()
	fn(e.st)
}

func (e *Emulator) ensureSigningKey(ctx context.Context) error {
	var raw json.RawMessage
	e.view(func(s *state) { raw = s.meta["signingkey"] })
	if raw == nil {
		key, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			return fmt.Errorf("generate signing key: %w", err)
		}
		pemBytes := pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)})
		body, _ := json.Marshal(map[string]string{"kid": uuid.NewString(), "pem": string(pemBytes)})
		if err := e.update(ctx, func(t *txn) error {
			// Another process sharing the store may have made one since
			// the view above: every process must sign with the same key.
			if t.s.meta["signingkey"] != nil {
				return nil
			}
			t.s.meta["signingkey"] = body
			t.put(KindMeta, "signingkey", json.RawMessage(body))
			return nil
		}); err != nil {
			return err
		}
		e.view(func(s *state) { raw = s.meta["signingkey"] })
	}
	var k struct{ Kid, Pem string }
	if err := json.Unmarshal(raw, &k); err != nil {
		return fmt.Errorf("decode signing key: %w", err)
	}
	block, _ := pem.Decode([]byte(k.Pem))
	if block == nil {
		return errors.New("decode signing key: no PEM block")
	}
	key, err := x509.ParsePKCS1PrivateKey(block.Bytes)
	if err != nil {
		return fmt.Errorf("decode signing key: %w", err)
	}
	e.signer, e.keyID = key, k.Kid
	return nil
}

// ServeHTTP routes a request to Entra ID, Graph, ARM or the operator API
// by its first path segment.
func (e *Emulator) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	defer func() {
		if v := recover(); v != nil {
			if v == http.ErrAbortHandler {
				panic(v)
			}
			e.log.Error("panic serving request", "method", r.Method, "path", r.URL.Path, "panic", v)
			writeARMError(w, http.StatusInternalServerError, "InternalServerError", "The server encountered an internal error.")
		}
	}()
	if err := e.sync(r.Context()); err != nil {
		e.log.Error("sync azure state", "err", err)
		writeARMError(w, http.StatusServiceUnavailable, "ServiceUnavailable", "The embedded Azure cannot read its store; try again.")
		return
	}
	first, _, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, "/"), "/")
	switch strings.ToLower(first) {
	case "_emulator":
		e.serveOperator(w, r)
	case "graph":
		e.serveGraph(w, r)
	case "subscriptions", "tenants", "providers":
		if e.BeforeARM != nil {
			if err := e.BeforeARM(r); err != nil {
				writeARMError(w, http.StatusInternalServerError, "InternalServerError", err.Error())
				return
			}
		}
		e.serveARM(w, r)
	case "":
		e.serveIndex(w, r)
	default:
		// Everything else is the authority: /{tenant}/… or /adfs/….
		e.serveEntra(w, r)
	}
}

func (e *Emulator) serveIndex(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	fmt.Fprintf(w, "Peerplane embedded Azure at %s\n\nEntra ID:  %s/{tenant}/v2.0/.well-known/openid-configuration\nADFS (az): %s/adfs\nGraph:     %s/graph/v1.0/\nARM:       %s/subscriptions\n", e.base, e.base, e.base, e.base, e.base)
}

// writeJSON writes v as JSON with status.
func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
}

// writeARMError writes ARM's error shape: {"error":{"code","message"}}.
func writeARMError(w http.ResponseWriter, status int, code, message string) {
	w.Header().Set("x-ms-failure-cause", "gateway")
	writeJSON(w, status, map[string]any{"error": map[string]string{"code": code, "message": message}})
}

// writeGraphError writes Microsoft Graph's error shape.
func writeGraphError(w http.ResponseWriter, status int, code, message string) {
	writeJSON(w, status, map[string]any{"error": map[string]any{
		"code":       code,
		"message":    message,
		"innerError": map[string]string{"request-id": uuid.NewString(), "date": time.Now().UTC().Format("2006-01-02T15:04:05")},
	}})
}

// writeOAuthError writes Entra ID's token endpoint error shape.
func writeOAuthError(w http.ResponseWriter, status int, code, aadsts, description string) {
	desc := description
	codes := []int{}
	if aadsts != "" {
		desc = aadsts + ": " + description
		if n, err := strconv.Atoi(strings.TrimPrefix(aadsts, "AADSTS")); err == nil {
			codes = append(codes, n)
		}
	}
	writeJSON(w, status, map[string]any{
		"error":             code,
		"error_description": desc,
		"error_codes":       codes,
		"timestamp":         time.Now().UTC().Format("2006-01-02 15:04:05Z"),
		"trace_id":          uuid.NewString(),
		"correlation_id":    uuid.NewString(),
	})
}
