package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/peerplane/peerplane/internal/azure"
	"github.com/peerplane/peerplane/internal/netcheck"
	"github.com/peerplane/peerplane/internal/reach"
)

// emulatorNetworkSnapshot returns the netcheck.Checker's Snapshot source that
// reads Azure's network state from the embedded Azure's operator route
// GET <azureURL>/_emulator/network-snapshot (open on loopback, or with the
// operator token), over HTTP: the control plane never reads the emulator's
// memory. Against real Azure, a source reading VNets, peerings and NSGs
// through ARM would take its place.
func emulatorNetworkSnapshot(client *http.Client, azureURL, token string) netcheck.Snapshotter {
	url := strings.TrimRight(azureURL, "/") + "/_emulator/network-snapshot"
	// The last snapshot and its ETag: while Azure's state is unchanged the
	// route answers 304 and the decoded snapshot is reused. Callers only
	// read it.
	var mu sync.Mutex
	var last *reach.Snapshot
	var etag string
	return func(ctx context.Context, _ reach.World) (*reach.Snapshot, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return nil, err
		}
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		mu.Lock()
		if last != nil {
			req.Header.Set("If-None-Match", etag)
		}
		mu.Unlock()
		resp, err := client.Do(req)
		if err != nil {
			return nil, err
		}
		defer resp.Body.Close()
		if resp.StatusCode == http.StatusNotModified {
			mu.Lock()
			defer mu.Unlock()
			if last != nil && resp.Header.Get("ETag") == etag {
				return last, nil
			}
			return nil, fmt.Errorf("GET %s: 304 for a snapshot this client does not hold", url)
		}
		if resp.StatusCode != http.StatusOK {
			b, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
			return nil, fmt.Errorf("GET %s: %s: %s", url, resp.Status, strings.TrimSpace(string(b)))
		}
		var s reach.Snapshot
		if err := json.NewDecoder(resp.Body).Decode(&s); err != nil {
			return nil, fmt.Errorf("GET %s: %w", url, err)
		}
		if tag := resp.Header.Get("ETag"); tag != "" {
			mu.Lock()
			last, etag = &s, tag
			mu.Unlock()
		}
		return &s, nil
	}
}

// armSnapshotTTL is how long a snapshot read through ARM is reused for the
// same customer VNets: reading it takes a round of ARM calls, and status
// reads (a console page polls) would otherwise repeat them.
const armSnapshotTTL = 10 * time.Second

// armNetworkSnapshot returns the Checker's Snapshot source against a real
// Azure: the provider subscription's VNets and NSGs and the environment's
// customer VNets, read through ARM as the provider app
// (azure.Client.NetworkSnapshot). A snapshot is reused for armSnapshotTTL
// per set of customer VNets, so a change in Azure shows within that time.
func armNetworkSnapshot(c *azure.Client, now func() time.Time) netcheck.Snapshotter {
	type entry struct {
		snap *reach.Snapshot
		at   time.Time
	}
	var mu sync.Mutex
	cache := map[string]entry{}
	return func(ctx context.Context, w reach.World) (*reach.Snapshot, error) {
		var customers []azure.CustomerVNet
		var keys []string
		for _, p := range w.ControlPeerings {
			customers = append(customers, azure.CustomerVNet{Tenant: p.Tenant, ID: p.VNetID})
			keys = append(keys, strings.ToLower(p.Tenant+" "+p.VNetID))
		}
		slices.Sort(keys)
		key := strings.Join(keys, "\n")
		mu.Lock()
		e, ok := cache[key]
		mu.Unlock()
		if ok && now().Sub(e.at) < armSnapshotTTL {
			return e.snap, nil
		}
		snap, err := c.NetworkSnapshot(ctx, customers)
		if err != nil {
			return nil, err
		}
		mu.Lock()
		if len(cache) >= 256 {
			clear(cache)
		}
		cache[key] = entry{snap: snap, at: now()}
		mu.Unlock()
		return snap, nil
	}
}
