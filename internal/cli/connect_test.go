package cli

import "testing"

func TestShortReason(t *testing.T) {
	for _, tt := range []struct{ trace, want string }{
		{"", ""},
		{"Cannot reach 10.1.0.4:5432 (connection.url) from Kafka cluster lkc-1 in network n-1: NSG_DENY: Rule deny-db … Fix: remove it.",
			"NSG_DENY: 10.1.0.4:5432"},
		{"Cannot reach 10.1.0.4:5432 (connection.url) from Kafka cluster lkc-1 in network n-1: NSG_DENY: x\n" +
			"Cannot reach 10.2.0.4:443 (http.api.url) from Kafka cluster lkc-1 in network n-1: TRANSITIVE_PEERING_NOT_SUPPORTED: y",
			"NSG_DENY: 10.1.0.4:5432; TRANSITIVE_PEERING_NOT_SUPPORTED: 10.2.0.4:443"},
		{"Kafka cluster lkc-1 is PROVISIONING.\nmore", "Kafka cluster lkc-1 is PROVISIONING."},
		{string(make([]byte, 100)), string(make([]byte, 79)) + "…"},
	} {
		if got := shortReason(tt.trace); got != tt.want {
			t.Errorf("shortReason(%q) = %q, want %q", tt.trace, got, tt.want)
		}
	}
}
