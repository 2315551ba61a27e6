package console_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/peerplane/peerplane/internal/console"
	"github.com/peerplane/peerplane/internal/control"
	"github.com/peerplane/peerplane/internal/reach/reachtest"
)

func TestTestConnectivity(t *testing.T) {
	var w *reachtest.World
	f := newFixture(t, func(o *console.Options, svc *control.Service, org *control.Organization) {
		w = reachtest.New(t, svc, org)
		o.Reachability = w.Checker
	})
	f.signIn(f.secret)
	netURL := "/console/environments/" + w.Env + "/networks/" + w.Network
	test := func(q url.Values) (int, string) {
		t.Helper()
		st, body, _ := f.get(netURL + "?" + q.Encode())
		return st, body
	}
	contains := func(what, body string, wants ...string) {
		t.Helper()
		for _, want := range wants {
			if !strings.Contains(body, want) {
				t.Errorf("%s lacks %s", what, want)
			}
		}
	}

	// The form: labelled fields with their help, the network's cluster
	// chosen, TCP by default, a GET form that works without JavaScript.
	st, body := test(nil)
	if st != http.StatusOK {
		t.Fatalf("network page: %d", st)
	}
	contains("the form", body, `<h2 id="reach-h">Test connectivity</h2>`, `<form method="get" action="`+netURL+`#reach"`,
		`<label for="f-source">Source IP address</label>`, "A private IP in your VNet, e.g. a VM&#39;s address.",
		`<label for="f-dest">Destination</label>`, `<option value="`+w.Cluster+`" selected>orders (`+w.Cluster+`) — 10.200.1.10:9092</option>`,
		`<option value="ip">An IP address (type it below)</option>`, `<label for="f-address">`, `<label for="f-port">Port</label>`,
		`<option value="tcp" selected>TCP</option>`, `id="reach-test"`)
	if strings.Contains(body, `id="reach-result"`) {
		t.Error("a result before any test")
	}

	// Reachable: the verdict, the path and the checks, no blocker.
	st, body = test(url.Values{"source": {reachtest.ContosoVM}, "dest": {w.Cluster}, "address": {""}, "port": {""}, "protocol": {"tcp"}})
	if st != http.StatusOK {
		t.Fatalf("reachable: %d", st)
	}
	contains("reachable", body, `<span class="badge big active" id="reach-verdict">Reachable</span>`,
		`<strong title="`+reachtest.VNetID("contoso-vnet")+`">contoso-vnet</strong>`, "<strong", ">contoso-to-provider</strong> <span class=\"state\">(Connected/Connected)</span>",
		`<li class="check PASS"><span class="ico" aria-hidden="true">✓</span>`, `source_vnet <span class="cstatus">PASS</span>`,
		`value="10.1.0.4"`)
	if strings.Contains(body, `id="reach-blocked"`) || strings.Contains(body, "check FAIL") {
		t.Error("reachable shows a blocker")
	}

	// Unreachable through two peerings: the code, the detail and the fix.
	st, body = test(url.Values{"source": {reachtest.SpokeVM}, "dest": {w.Cluster}})
	if st != http.StatusOK {
		t.Fatalf("unreachable: %d", st)
	}
	contains("unreachable", body, `<span class="badge big error" id="reach-verdict">Unreachable</span>`,
		`<code id="reach-code">TRANSITIVE_PEERING_NOT_SUPPORTED</code>`, "peering is not transitive", "<strong>Fix:</strong> Peer VNet spoke-vnet directly",
		`<li class="check FAIL"><span class="ico" aria-hidden="true">✕</span>`, `<option value="tcp" selected>TCP</option>`)

	// An IP destination with a port and UDP.
	st, body = test(url.Values{"source": {reachtest.ContosoVM}, "dest": {"ip"}, "address": {reachtest.ClusterIP}, "port": {"53"}, "protocol": {"udp"}})
	if st != http.StatusOK {
		t.Fatalf("ip: %d", st)
	}
	contains("ip destination", body, `id="reach-verdict">Reachable`, "UDP port 53", `<option value="udp" selected>UDP</option>`)

	// Bad input: each field's error next to it, nothing tested.
	for _, tc := range []struct {
		q            url.Values
		field, error string
	}{
		{url.Values{"source": {"10.1.0.999"}, "dest": {w.Cluster}}, "source", "Source IP address “10.1.0.999” is not an IP address"},
		{url.Values{"source": {""}, "dest": {w.Cluster}}, "source", "Source IP address is required."},
		{url.Values{"source": {"10.1.0.4"}, "dest": {"ip"}, "address": {"kafka"}, "port": {"9092"}}, "address", "“kafka” is not an IP address"},
		{url.Values{"source": {"10.1.0.4"}, "dest": {"ip"}, "address": {reachtest.ClusterIP}}, "port", "Port is required for an IP address"},
		{url.Values{"source": {"10.1.0.4"}, "dest": {w.Cluster}, "address": {reachtest.ClusterIP}}, "address", "Leave this empty"},
		{url.Values{"source": {"10.1.0.4"}, "dest": {w.Cluster}, "port": {"70000"}}, "port", "not a number from 1 to 65535"},
		{url.Values{"source": {"10.1.0.4"}, "dest": {w.Cluster}, "protocol": {"sctp"}}, "protocol", "Choose TCP, UDP or ICMP."},
		// The checker's own field errors land on the field too.
		{url.Values{"source": {"10.1.0.4"}, "dest": {"lkc-nope00"}}, "dest", "lkc-nope00"},
	} {
		st, body := test(tc.q)
		if st != http.StatusBadRequest {
			t.Errorf("%v: status %d", tc.q, st)
		}
		contains(tc.q.Encode(), body, `id="f-`+tc.field+`" name="`+tc.field+`"`, `aria-invalid="true"`)
		errP := `<p class="error" id="f-` + tc.field + `-err" data-error-for="` + tc.field + `">`
		i := strings.Index(body, errP)
		if i < 0 || !strings.Contains(body[i:min(len(body), i+len(errP)+200)], htmlEscape(tc.error)) {
			t.Errorf("%v: no error %q next to %s", tc.q, tc.error, tc.field)
		}
		if strings.Contains(body, `id="reach-result"`) {
			t.Errorf("%v: tested anyway", tc.q)
		}
	}
}

func htmlEscape(s string) string {
	return strings.NewReplacer(`"`, "&#34;", "'", "&#39;").Replace(s)
}

func TestTestConnectivityHiddenWithoutChecker(t *testing.T) {
	var w *reachtest.World
	f := newFixture(t, func(_ *console.Options, svc *control.Service, org *control.Organization) {
		w = reachtest.New(t, svc, org)
	})
	f.signIn(f.secret)
	st, body, _ := f.get("/console/environments/" + w.Env + "/networks/" + w.Network + "?source=10.1.0.4&dest=" + w.Cluster)
	if st != http.StatusOK || strings.Contains(body, "Test connectivity") || !strings.Contains(body, "Dedicated clusters") {
		t.Fatalf("without a checker: %d, form shown: %v", st, strings.Contains(body, "Test connectivity"))
	}
}
