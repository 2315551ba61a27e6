package main

import (
	"strings"
	"testing"

	"github.com/spf13/pflag"
)

// TestDataplaneFlag checks --dataplane: auto by default, from
// $PEERPLANE_DATAPLANE, a bad value named, netns refused against a real
// Azure.
func TestDataplaneFlag(t *testing.T) {
	external := []string{"--external-azure", "--provider-tenant-id", "11111111-1111-4111-8111-111111111111", "--provider-subscription-id", "22222222-2222-4222-8222-222222222222"}
	for _, tt := range []struct {
		name    string
		args    []string
		env     map[string]string
		want    string
		wantErr string
	}{
		{name: "default", want: dataplaneAuto},
		{name: "env", env: map[string]string{"PEERPLANE_DATAPLANE": "off"}, want: dataplaneOff},
		{name: "flag beats env", args: []string{"--dataplane", "netns"}, env: map[string]string{"PEERPLANE_DATAPLANE": "off"}, want: dataplaneNetns},
		{name: "bad", args: []string{"--dataplane", "on"}, wantErr: "--dataplane"},
		{name: "bad env", env: map[string]string{"PEERPLANE_DATAPLANE": "yes"}, wantErr: "PEERPLANE_DATAPLANE"},
		{name: "netns with a real azure", args: append([]string{"--dataplane", "netns"}, external...), wantErr: "--external-azure"},
		{name: "auto with a real azure", args: external, want: dataplaneAuto},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var c ServeConfig
			fs := pflag.NewFlagSet("serve", pflag.ContinueOnError)
			env := map[string]string{"PEERPLANE_PROVIDER_CLIENT_SECRET": "s"}
			for k, v := range tt.env {
				env[k] = v
			}
			bindServeFlags(fs, &c, func(k string) string { return env[k] })
			if err := fs.Parse(tt.args); err != nil {
				t.Fatal(err)
			}
			err := c.validate()
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("validate() = %v, want an error naming %s", err, tt.wantErr)
				}
				return
			}
			if err != nil || c.Dataplane != tt.want {
				t.Fatalf("--dataplane = %q, %v; want %q", c.Dataplane, err, tt.want)
			}
		})
	}
}
