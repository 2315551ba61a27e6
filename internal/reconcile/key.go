package reconcile

import "github.com/peerplane/peerplane/internal/control"

// Key names the object to reconcile: its Kind and ID, compared as a
// value, so that a mistyped kind cannot compile. Its wire form, in the
// Relay's messages and logs, is "kind/id" (String, MarshalText).
type Key = control.ObjectKey

// Kind is the kind of a Key.
type Kind = control.Kind

// Kinds of Key the controller reconciles.
const (
	KindEnvironment = control.KindEnvironment
	KindNetwork     = control.KindNetwork
	KindPeering     = control.KindPeering
	KindCluster     = control.KindCluster
)

// ParseKey parses the wire form "kind/id"; it fails on an unknown kind or
// an empty id.
func ParseKey(s string) (Key, error) { return control.ParseObjectKey(s) }

func environmentKey(id string) Key { return control.EnvironmentKey(id) }
func networkKey(id string) Key     { return control.NetworkKey(id) }
func peeringKey(id string) Key     { return control.PeeringKey(id) }
func clusterKey(id string) Key     { return control.ClusterKey(id) }
