package azureemu

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"sync"
)

// Doc is one persisted object of the emulator.
type Doc struct {
	Kind string
	Key  string
	Body []byte
}

// DocStore persists the emulator's documents. ApplyDocs writes puts and
// deletes atomically: either all of them are durable when it returns nil,
// or none is. Deleting a missing document is not an error.
type DocStore interface {
	LoadDocs(ctx context.Context) ([]Doc, error)
	ApplyDocs(ctx context.Context, puts []Doc, deletes []Doc) error
}

// VersionedDocStore is a DocStore that several processes may share (one
// PostgreSQL behind several replicas). Its generation grows with every
// batch written by anyone; the emulator reloads when it sees another
// writer's generation, and writes only on top of the generation it loaded.
type VersionedDocStore interface {
	DocStore
	// Generation returns the current generation.
	Generation(ctx context.Context) (int64, error)
	// ApplyDocsAt applies the batch only if the generation is still gen,
	// returning the new one; ErrStaleGeneration (nothing written) if not.
	ApplyDocsAt(ctx context.Context, gen int64, puts, deletes []Doc) (int64, error)
}

// IncrementalDocStore is a VersionedDocStore that can tell what changed
// after a generation, so that a process catches up with another's writes
// without loading every document again.
type IncrementalDocStore interface {
	VersionedDocStore
	// ChangesSince returns, from one consistent view, the documents
	// written after generation gen, the documents (Kind and Key) deleted
	// after it and not written since, and the generation of that view.
	// Each of also (Kind and Key) is returned too whatever its
	// generation: among puts as stored, or among deletes when missing.
	ChangesSince(ctx context.Context, gen int64, also []Doc) (puts, deletes []Doc, current int64, err error)
}

// ErrStaleGeneration is returned by VersionedDocStore.ApplyDocsAt when
// another writer changed the state since it was loaded.
var ErrStaleGeneration = errors.New("azure state changed since it was loaded")

// MemoryDocStore is a DocStore that keeps nothing across processes; for
// tests and for callers that want an ephemeral emulator.
type MemoryDocStore struct {
	mu   sync.Mutex
	docs map[[2]string][]byte
}

// LoadDocs returns every stored document, ordered by kind and key.
func (m *MemoryDocStore) LoadDocs(ctx context.Context) ([]Doc, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]Doc, 0, len(m.docs))
	for k, v := range m.docs {
		out = append(out, Doc{Kind: k[0], Key: k[1], Body: append([]byte(nil), v...)})
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Kind != out[j].Kind {
			return out[i].Kind < out[j].Kind
		}
		return out[i].Key < out[j].Key
	})
	return out, nil
}

// ApplyDocs stores puts and removes deletes.
func (m *MemoryDocStore) ApplyDocs(ctx context.Context, puts, deletes []Doc) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.docs == nil {
		m.docs = map[[2]string][]byte{}
	}
	for _, d := range deletes {
		delete(m.docs, [2]string{d.Kind, d.Key})
	}
	for _, d := range puts {
		m.docs[[2]string{d.Kind, d.Key}] = append([]byte(nil), d.Body...)
	}
	return nil
}

// state is the emulator's in-memory model, loaded from the DocStore at
// start and written through on every change. Map keys are lower-cased.
type state struct {
	tenants     map[string]*Tenant
	users       map[string]*User             // by object id
	apps        map[string]*Application      // by appId
	sps         map[string]*ServicePrincipal // by object id
	subs        map[string]*Subscription
	rgs         map[string]*ResourceGroup  // by resource id
	vnets       map[string]*VirtualNetwork // by resource id
	peerings    map[string]*VirtualNetworkPeering
	nsgs        map[string]*NetworkSecurityGroup
	roleDefs    map[string]*RoleDefinition // custom roles by GUID
	roleAssigns map[string]*RoleAssignment // by GUID
	meta        map[string]json.RawMessage

	// stored is the sum (docSum) of each document as stored, by kind and
	// lower-cased key: a txn writes only documents that differ.
	stored map[[2]string][sha256.Size]byte
	indexes
}

func newState() *state {
	return &state{
		tenants:     map[string]*Tenant{},
		users:       map[string]*User{},
		apps:        map[string]*Application{},
		sps:         map[string]*ServicePrincipal{},
		subs:        map[string]*Subscription{},
		rgs:         map[string]*ResourceGroup{},
		vnets:       map[string]*VirtualNetwork{},
		peerings:    map[string]*VirtualNetworkPeering{},
		nsgs:        map[string]*NetworkSecurityGroup{},
		roleDefs:    map[string]*RoleDefinition{},
		roleAssigns: map[string]*RoleAssignment{},
		meta:        map[string]json.RawMessage{},
		stored:      map[[2]string][sha256.Size]byte{},
		indexes:     newIndexes(),
	}
}

// load decodes one document into the state.
func (s *state) load(d Doc) error {
	k := [2]string{d.Kind, d.Key}
	s.stored[k] = docSum(d.Body)
	var obj any
	var err error
	switch d.Kind {
	case KindTenant:
		obj, err = loadInto(d, s.tenants)
	case KindUser:
		obj, err = loadInto(d, s.users)
	case KindApplication:
		obj, err = loadInto(d, s.apps)
	case KindServicePrincipal:
		obj, err = loadInto(d, s.sps)
	case KindSubscription:
		obj, err = loadInto(d, s.subs)
	case KindResourceGroup:
		obj, err = loadInto(d, s.rgs)
	case KindVirtualNetwork:
		obj, err = loadInto(d, s.vnets)
	case KindPeering:
		obj, err = loadInto(d, s.peerings)
	case KindNSG:
		obj, err = loadInto(d, s.nsgs)
	case KindRoleDefinition:
		obj, err = loadInto(d, s.roleDefs)
	case KindRoleAssignment:
		obj, err = loadInto(d, s.roleAssigns)
	case KindMeta:
		s.meta[d.Key] = append(json.RawMessage(nil), d.Body...)
	default:
		return fmt.Errorf("unknown document kind %q", d.Kind)
	}
	if err != nil {
		return fmt.Errorf("load %s %s: %w", d.Kind, d.Key, err)
	}
	s.index(k, obj)
	return nil
}

// drop removes the document kind/key from the state, if it is there.
func (s *state) drop(kind, key string) {
	k := [2]string{kind, key}
	switch kind {
	case KindTenant:
		delete(s.tenants, key)
	case KindUser:
		delete(s.users, key)
	case KindApplication:
		delete(s.apps, key)
	case KindServicePrincipal:
		delete(s.sps, key)
	case KindSubscription:
		delete(s.subs, key)
	case KindResourceGroup:
		delete(s.rgs, key)
	case KindVirtualNetwork:
		delete(s.vnets, key)
	case KindPeering:
		delete(s.peerings, key)
	case KindNSG:
		delete(s.nsgs, key)
	case KindRoleDefinition:
		delete(s.roleDefs, key)
	case KindRoleAssignment:
		delete(s.roleAssigns, key)
	case KindMeta:
		delete(s.meta, key)
	}
	delete(s.stored, k)
	s.unindex(k)
}

func loadInto[T any](d Doc, m map[string]*T) (*T, error) {
	v := new(T)
	if err := json.Unmarshal(d.Body, v); err != nil {
		return nil, err
	}
	m[d.Key] = v
	return v, nil
}

// txn collects the documents a change writes. Mutations happen on the
// in-memory state directly, under the emulator's write lock; txn.put and
// txn.del record what must be persisted. If persisting fails, the
// emulator reloads its state from the store, discarding the change.
//
// A txn writes only what changed: a put whose document is byte for byte
// the stored one is dropped, with the events that belong to it, and a
// resource's etag is renewed only when its document changes. A change that
// changes nothing writes nothing, emits nothing and bumps no generation.
type txn struct {
	s       *state
	puts    map[[2]string]any
	deletes map[[2]string]bool
	events  []Event
	// eventDocs[i] is the document events[i] belongs to.
	eventDocs [][2]string
}

// etagged is a resource with an ETag, which the txn renews on a change.
type etagged interface{ etagRef() *string }

func (v *VirtualNetwork) etagRef() *string        { return &v.Etag }
func (p *VirtualNetworkPeering) etagRef() *string { return &p.Etag }
func (n *NetworkSecurityGroup) etagRef() *string  { return &n.Etag }

// docSum is what the txn compares documents by.
func docSum(b []byte) [sha256.Size]byte { return sha256.Sum256(b) }

// put records obj (already placed in its map) under kind/key. An etagged
// obj whose document differs from the stored one gets a new etag here, so
// that what the request answers is what is stored.
func (t *txn) put(kind, key string, obj any) {
	k := [2]string{kind, lower(key)}
	delete(t.deletes, k)
	t.puts[k] = obj
	if et, ok := obj.(etagged); ok {
		b, err := json.Marshal(obj)
		if sum, stored := t.s.stored[k]; err != nil || !stored || docSum(b) != sum {
			*et.etagRef() = armNewEtag()
		}
	}
	t.s.index(k, obj)
}

// del records the removal of kind/key (already removed from its map).
func (t *txn) del(kind, key string) {
	k := [2]string{kind, lower(key)}
	delete(t.puts, k)
	t.deletes[k] = true
	t.s.unindex(k)
}

// emit queues ev, delivered after the change is durable, if the document
// kind/key it belongs to changed.
func (t *txn) emit(kind, key string, ev Event) {
	t.events = append(t.events, ev)
	t.eventDocs = append(t.eventDocs, [2]string{kind, lower(key)})
}

// docs returns the documents to write: the puts that differ from what is
// stored and the deletes of stored documents, with the sums the stored
// documents will have.
func (t *txn) docs() (puts, deletes []Doc, sums map[[2]string][sha256.Size]byte, err error) {
	sums = map[[2]string][sha256.Size]byte{}
	for k, obj := range t.puts {
		b, err := json.Marshal(obj)
		if err != nil {
			return nil, nil, nil, fmt.Errorf("encode %s %s: %w", k[0], k[1], err)
		}
		sum := docSum(b)
		if old, ok := t.s.stored[k]; ok && old == sum {
			continue
		}
		sums[k] = sum
		puts = append(puts, Doc{Kind: k[0], Key: k[1], Body: b})
	}
	for k := range t.deletes {
		if _, ok := t.s.stored[k]; ok {
			deletes = append(deletes, Doc{Kind: k[0], Key: k[1]})
		}
	}
	return puts, deletes, sums, nil
}

// touched returns the documents (Kind and Key) the txn put or deleted.
func (t *txn) touched() []Doc {
	out := make([]Doc, 0, len(t.puts)+len(t.deletes))
	for k := range t.puts {
		out = append(out, Doc{Kind: k[0], Key: k[1]})
	}
	for k := range t.deletes {
		out = append(out, Doc{Kind: k[0], Key: k[1]})
	}
	return out
}

// changedEvents returns the events whose document is written: in sums
// (put) or deleted.
func (t *txn) changedEvents(sums map[[2]string][sha256.Size]byte) []Event {
	var out []Event
	for i, ev := range t.events {
		k := t.eventDocs[i]
		_, put := sums[k]
		_, stored := t.s.stored[k]
		if put || t.deletes[k] && stored {
			out = append(out, ev)
		}
	}
	return out
}

// committed records that puts (with sums) and deletes are now stored.
func (s *state) committed(sums map[[2]string][sha256.Size]byte, deletes []Doc) {
	for k, sum := range sums {
		s.stored[k] = sum
	}
	for _, d := range deletes {
		delete(s.stored, [2]string{d.Kind, d.Key})
	}
}
