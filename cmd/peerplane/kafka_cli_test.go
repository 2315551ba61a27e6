package main

import (
	"strings"
	"testing"

	"github.com/peerplane/peerplane/internal/cli"
)

// TestCLIClusterEndpointsAndAPIKeys runs the built binary as a user would:
// `kafka cluster describe` prints the private bootstrap and REST
// endpoints and the command that connects from a peered VNet;
// `api-key create --resource lkc-…` (the confluent CLI's shape) makes a
// cluster key and shows its secret once; list, describe and delete
// follow; bad input is an error naming the field. With the data plane off
// (as here) the endpoints are the names a data plane would serve.
func TestCLIClusterEndpointsAndAPIKeys(t *testing.T) {
	dir, _ := startDemoServe(t, func(c *ServeConfig) { c.PrivateDNSDomain = "peerplane.test" })
	r := newCLIRunner(t, dir)
	r.run(t, "login", "--data-dir", dir)
	var env cliObj
	r.runJSON(t, &env, "environment", "create", "prod")
	r.run(t, "environment", "use", env.ID)
	var n, c cliObj
	r.runJSON(t, &n, "network", "create", "net", "--cloud", "azure", "--region", "eastus", "--cidr", "10.30.0.0/16",
		"--connection-types", "peering", "--wait")
	r.runJSON(t, &c, "kafka", "cluster", "create", "orders", "--type", "dedicated", "--cku", "1", "--network", n.ID,
		"--cloud", "azure", "--region", "eastus", "--wait")

	host := c.ID + "-" + strings.TrimPrefix(n.ID, "n-") + ".eastus.azure.private.peerplane.test"
	out := r.run(t, "kafka", "cluster", "describe", c.ID)
	for _, want := range []string{
		"| Endpoint ", host + ":9092",
		"| REST Endpoint ", "https://" + host + ":443",
		"Connect from your VNet", "\n  peerplane vnet exec --vnet <resource-group>/<vnet> -- kcat -b " + host + ":9092 -L\n",
	} {
		if !strings.Contains(out, want) {
			t.Fatalf("kafka cluster describe lacks %q:\n%s", want, out)
		}
	}

	out = r.run(t, "api-key", "create", "--resource", c.ID, "--service-account", "sa-app001", "--description", "orders app")
	var key, secret string
	for _, l := range strings.Split(out, "\n") {
		f := strings.Split(l, "|")
		if len(f) < 3 {
			continue
		}
		switch strings.TrimSpace(f[1]) {
		case "API Key":
			key = strings.TrimSpace(f[2])
		case "API Secret":
			secret = strings.TrimSpace(f[2])
		}
	}
	if len(key) != 16 || len(secret) != 64 || !strings.Contains(out, c.ID) || !strings.Contains(out, "sa-app001") {
		t.Fatalf("api-key create:\n%s", out)
	}
	if out := r.run(t, "api-key", "list", "--resource", c.ID); !strings.Contains(out, key) || !strings.Contains(out, "orders app") {
		t.Fatalf("api-key list:\n%s", out)
	}
	if out := r.run(t, "api-key", "list", "--resource", "lkc-other0"); strings.Contains(out, key) {
		t.Fatalf("api-key list of another cluster shows the key:\n%s", out)
	}
	if out := r.run(t, "api-key", "describe", key); !strings.Contains(out, c.ID) || strings.Contains(out, secret) {
		t.Fatalf("api-key describe (the secret is not shown again):\n%s", out)
	}

	if _, msg := r.fail(t, cli.ExitError, "api-key", "create"); !strings.Contains(msg, "--resource") {
		t.Fatalf("api-key create without --resource: %q", msg)
	}
	if _, msg := r.fail(t, cli.ExitError, "api-key", "create", "--resource", "lkc-nope00"); !strings.Contains(msg, "/spec/resource/id") {
		t.Fatalf("api-key create for a missing cluster: %q", msg)
	}
	if _, msg := r.fail(t, cli.ExitError, "api-key", "create", "--resource", c.ID, "--service-account", "bob"); !strings.Contains(msg, "/spec/owner/id") {
		t.Fatalf("api-key create with a bad owner: %q", msg)
	}

	if out := r.run(t, "api-key", "delete", key); !strings.Contains(out, "Deleted API key") {
		t.Fatalf("api-key delete: %s", out)
	}
	if _, msg := r.fail(t, cli.ExitError, "api-key", "describe", key); !strings.Contains(msg, "404") {
		t.Fatalf("describe a deleted key: %q", msg)
	}
}
