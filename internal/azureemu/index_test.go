package azureemu

import (
	"context"
	"maps"
	"reflect"
	"slices"
	"testing"
)

// indexView is what the indexes hold, comparable between two states:
// for each index, each key's document keys.
func indexView(s *state) map[string]map[string][]string {
	out := map[string]map[string][]string{}
	v := reflect.ValueOf(s.indexes)
	typ := v.Type()
	for i := range v.NumField() {
		f := v.Field(i)
		if f.Kind() != reflect.Map || typ.Field(i).Name == "reg" {
			continue
		}
		m := map[string][]string{}
		for _, k := range f.MapKeys() {
			var ids []string
			for _, id := range f.MapIndex(k).MapKeys() {
				ids = append(ids, id.String())
			}
			slices.Sort(ids)
			m[k.String()] = ids
		}
		out[typ.Field(i).Name] = m
	}
	scopes := map[string][]string{}
	var walk func(path string, n *scopeNode)
	walk = func(path string, n *scopeNode) {
		if len(n.ras) > 0 {
			scopes[path] = slices.Sorted(maps.Keys(n.ras))
		}
		for seg, kid := range n.kids {
			walk(path+"/"+seg, kid)
		}
	}
	walk("", &s.assignments.root)
	out["assignments"] = scopes
	return out
}

// checkIndexes fails t unless e's indexes and its sums of the stored
// documents are what loading its store gives: no change escaped them.
func checkIndexes(t testing.TB, e *Emulator) {
	t.Helper()
	ctx := context.Background()
	if err := e.sync(ctx); err != nil {
		t.Fatal(err)
	}
	docs, err := e.store.LoadDocs(ctx)
	if err != nil {
		t.Fatal(err)
	}
	fresh := newState()
	for _, d := range docs {
		if err := fresh.load(d); err != nil {
			t.Fatal(err)
		}
	}
	e.mu.RLock()
	defer e.mu.RUnlock()
	if !maps.Equal(e.st.stored, fresh.stored) {
		t.Errorf("the emulator's sums of the stored documents (%d) differ from the store's (%d)", len(e.st.stored), len(fresh.stored))
	}
	got, want := indexView(e.st), indexView(fresh)
	for name := range want {
		if !reflect.DeepEqual(got[name], want[name]) {
			t.Errorf("index %s:\n got %v\nwant %v", name, got[name], want[name])
		}
	}
}
