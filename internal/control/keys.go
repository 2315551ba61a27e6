package control

import (
	"fmt"
	"strings"
)

// Kind is a kind of object the reconciler (or the connector runtime) acts
// on. It is not a string, so that a mistyped kind does not compile.
type Kind uint8

// Kinds of ObjectKey.
const (
	KindEnvironment Kind = iota + 1 // an environment being deleted
	KindNetwork
	KindPeering
	KindCluster
	KindConnector // ID "<cluster id>/<name>"
)

var kindNames = [...]string{
	KindEnvironment: "environment",
	KindNetwork:     "network",
	KindPeering:     "peering",
	KindCluster:     "cluster",
	KindConnector:   "connector",
}

// String returns the kind's name ("peering"), or "kind(N)" for no kind.
func (k Kind) String() string {
	if int(k) < len(kindNames) && kindNames[k] != "" {
		return kindNames[k]
	}
	return fmt.Sprintf("kind(%d)", uint8(k))
}

// ObjectKey names one object: its kind and id. Its wire form (String,
// MarshalText) is "kind/id", as in "peering/p-abc123".
type ObjectKey struct {
	Kind Kind
	ID   string
}

// EnvironmentKey, NetworkKey, PeeringKey, ClusterKey return the key of
// the object id of their kind.
func EnvironmentKey(id string) ObjectKey { return ObjectKey{KindEnvironment, id} }
func NetworkKey(id string) ObjectKey     { return ObjectKey{KindNetwork, id} }
func PeeringKey(id string) ObjectKey     { return ObjectKey{KindPeering, id} }
func ClusterKey(id string) ObjectKey     { return ObjectKey{KindCluster, id} }

// String returns "kind/id".
func (k ObjectKey) String() string { return k.Kind.String() + "/" + k.ID }

// ParseObjectKey parses "kind/id". Returns EINVALID for an unknown kind or
// an empty id.
func ParseObjectKey(s string) (ObjectKey, error) {
	name, id, _ := strings.Cut(s, "/")
	for k, n := range kindNames {
		if n != "" && n == name && id != "" {
			return ObjectKey{Kind(k), id}, nil
		}
	}
	return ObjectKey{}, Errorf(EINVALID, "%q is not an object key (kind/id).", s)
}

// MarshalText returns the key's wire form, "kind/id".
func (k ObjectKey) MarshalText() ([]byte, error) {
	if _, err := ParseObjectKey(k.String()); err != nil {
		return nil, err
	}
	return []byte(k.String()), nil
}

// UnmarshalText parses the wire form "kind/id" (ParseObjectKey).
func (k *ObjectKey) UnmarshalText(b []byte) error {
	key, err := ParseObjectKey(string(b))
	if err != nil {
		return err
	}
	*k = key
	return nil
}
