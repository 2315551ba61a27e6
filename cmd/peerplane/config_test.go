package main

import (
	"strings"
	"testing"

	"github.com/spf13/pflag"
)

func TestServeConfigFromFlagsAndEnv(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		env     map[string]string
		check   func(t *testing.T, c ServeConfig)
		wantErr string
	}{
		{name: "defaults", check: func(t *testing.T, c ServeConfig) {
			if c.DataDir != ".data" || c.Listen != "127.0.0.1:8080" || c.AzureListen != "127.0.0.1:8443" || c.ProviderAppID != "f0955e3a-9013-4cf4-a1ea-21587621c9cc" || c.Demo {
				t.Fatalf("defaults = %+v", c)
			}
		}},
		{name: "env", env: map[string]string{"PEERPLANE_DATA_DIR": "/tmp/x", "PEERPLANE_LISTEN": "127.0.0.1:9", "PEERPLANE_DEMO": "true"}, check: func(t *testing.T, c ServeConfig) {
			if c.DataDir != "/tmp/x" || c.Listen != "127.0.0.1:9" || !c.Demo {
				t.Fatalf("from env = %+v", c)
			}
		}},
		{name: "flags beat env", args: []string{"--data-dir", "/d", "--azure-listen", "127.0.0.1:0"}, env: map[string]string{"PEERPLANE_DATA_DIR": "/tmp/x"}, check: func(t *testing.T, c ServeConfig) {
			if c.DataDir != "/d" || c.AzureListen != "127.0.0.1:0" {
				t.Fatalf("flags = %+v", c)
			}
		}},
		{name: "bad listen", args: []string{"--listen", "8080"}, wantErr: "--listen"},
		{name: "bad app id", args: []string{"--provider-app-id", "nope"}, wantErr: "--provider-app-id"},
		{name: "bad tenant id", args: []string{"--provider-tenant-id", "x"}, wantErr: "--provider-tenant-id"},
		{name: "bad log level", args: []string{"--log-level", "loud"}, wantErr: "--log-level"},
		{name: "empty data dir", args: []string{"--data-dir", ""}, wantErr: "--data-dir"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var c ServeConfig
			fs := pflag.NewFlagSet("serve", pflag.ContinueOnError)
			bindServeFlags(fs, &c, func(k string) string { return tt.env[k] })
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
			if err != nil {
				t.Fatal(err)
			}
			tt.check(t, c)
		})
	}
}
