// Package kafka runs the Kafka endpoint of each Dedicated cluster when the
// data plane is on: brokers (franz-go's kfake) listening on private
// addresses in the provider VNet of the cluster's network, their logs on
// disk in the data directory, and the cluster's Kafka REST v3 endpoint.
package kafka

import (
	"context"
	"errors"
)

// ClusterEndpoints finds where a cluster's brokers listen.
type ClusterEndpoints interface {
	// Bootstrap returns the cluster's broker addresses ("ip:port") inside
	// its network's provider VNet, or an error saying why there are none:
	// a *NoBrokersError whose Unwrap is ErrDataplaneOff, ErrNotFound,
	// ErrNotProvisioned or ErrNotRunning.
	Bootstrap(ctx context.Context, clusterID string) ([]string, error)
}

// Why a cluster has no broker addresses.
var (
	// ErrDataplaneOff: the server runs no data plane, so no cluster has
	// brokers (the control plane works as without one).
	ErrDataplaneOff = errors.New("the data plane is off, so no Kafka endpoint runs")
	// ErrNotFound: no such cluster (never created, or deleted).
	ErrNotFound = errors.New("the cluster was not found")
	// ErrNotProvisioned: the cluster is not PROVISIONED yet.
	ErrNotProvisioned = errors.New("the cluster is not PROVISIONED")
	// ErrNotRunning: the cluster is PROVISIONED but its brokers are not
	// listening (starting, stopping, or failing to start; Reason says).
	ErrNotRunning = errors.New("the cluster's brokers are not running")
)

// NoBrokersError is Bootstrap's error: which cluster, and why.
type NoBrokersError struct {
	ClusterID string
	Reason    string // a sentence for people
	Err       error  // one of the Err… values above
}

func (e *NoBrokersError) Error() string {
	if e.Reason != "" {
		return "cluster " + e.ClusterID + ": " + e.Reason
	}
	return "cluster " + e.ClusterID + ": " + e.Err.Error()
}

func (e *NoBrokersError) Unwrap() error { return e.Err }
