package control_test

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"testing"

	"github.com/peerplane/peerplane/internal/control"
)

// TestPageSizes: each list takes up to its maximum (Confluent's) a page and
// refuses more with EINVALID on page_size; control.All pages through a
// whole list at the maximum and stops at the first error.
func TestPageSizes(t *testing.T) {
	svc, _ := newTestService(t)
	octx := control.NewOperatorContext(context.Background())
	org := &control.Organization{DisplayName: "acme"}
	if err := svc.CreateOrganization(octx, org); err != nil {
		t.Fatal(err)
	}
	ctx := control.NewContextWithOrganization(context.Background(), org)
	env := &control.Environment{DisplayName: "prod"}
	if err := svc.CreateEnvironment(ctx, env); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name string
		max  int
		find func(control.Page) error
	}{
		{"environments", control.MaxEnvironmentPageSize, func(p control.Page) error { _, _, err := svc.FindEnvironments(ctx, p); return err }},
		{"organizations", control.MaxEnvironmentPageSize, func(p control.Page) error { _, _, err := svc.FindOrganizations(octx, p); return err }},
		{"networks", control.MaxPageSize, func(p control.Page) error {
			_, _, err := svc.FindNetworks(ctx, control.NetworkFilter{EnvironmentID: env.ID}, p)
			return err
		}},
		{"peerings", control.MaxPageSize, func(p control.Page) error {
			_, _, err := svc.FindPeerings(ctx, control.PeeringFilter{EnvironmentID: env.ID}, p)
			return err
		}},
		{"clusters", control.MaxClusterPageSize, func(p control.Page) error {
			_, _, err := svc.FindClusters(ctx, control.ClusterFilter{EnvironmentID: env.ID}, p)
			return err
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			wantErr(t, tt.find(control.Page{Size: tt.max}), "", "")
			wantErr(t, tt.find(control.Page{Size: tt.max + 1}), control.EINVALID, "page_size")
			wantErr(t, tt.find(control.Page{Size: -1}), control.EINVALID, "page_size")
		})
	}

	// All reads successive pages until the last.
	items := make([]string, 25)
	for i := range items {
		items[i] = strconv.Itoa(i)
	}
	var sizes []int
	got, err := control.All(10, func(p control.Page) ([]string, string, error) {
		sizes = append(sizes, p.Size)
		from := 0
		if p.Token != "" {
			from, _ = strconv.Atoi(p.Token)
		}
		to := min(from+p.Size, len(items))
		next := ""
		if to < len(items) {
			next = strconv.Itoa(to)
		}
		return items[from:to], next, nil
	})
	if err != nil || !slices.Equal(got, items) || !slices.Equal(sizes, []int{10, 10, 10}) {
		t.Fatalf("All: %v %v, pages %v", got, err, sizes)
	}
	boom := errors.New("boom")
	calls := 0
	if _, err := control.All(10, func(p control.Page) ([]string, string, error) { calls++; return []string{"x"}, "more", boom }); err != boom || calls != 1 {
		t.Fatalf("All on error: %v after %d calls", err, calls)
	}
}
