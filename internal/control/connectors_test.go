package control_test

import (
	"strings"
	"testing"

	"github.com/peerplane/peerplane/internal/control"
)

func TestConnectorEndpoints(t *testing.T) {
	for _, tt := range []struct {
		config map[string]string
		want   string // endpoints "key=addr:port" joined by spaces, or "error: field"
	}{
		{map[string]string{"connection.url": "jdbc:postgresql://10.1.0.4:5432/db?ssl=true"}, "connection.url=10.1.0.4:5432"},
		{map[string]string{"connection.url": "jdbc:postgresql://10.1.0.4/db"}, "connection.url=10.1.0.4:5432"},
		{map[string]string{"connection.url": "jdbc:sqlserver://10.1.0.4:1433;databaseName=x"}, "connection.url=10.1.0.4:1433"},
		{map[string]string{"connection.uri": "mongodb://u:p@w@10.1.0.4,10.1.0.5:27018/db"}, "connection.uri=10.1.0.4:27017 connection.uri=10.1.0.5:27018"},
		{map[string]string{"http.api.url": "https://[fd00::4]/events"}, "http.api.url=[fd00::4]:443"},
		{map[string]string{"connection.host": "10.1.0.4", "connection.port": "3306"}, "connection.host=10.1.0.4:3306"},
		{map[string]string{"database.hostname": " 10.1.0.4 ", "database.port": "5432", "topics": "x"}, "database.hostname=10.1.0.4:5432"},
		{map[string]string{"topics": "x"}, ""},
		{map[string]string{"connection.url": "jdbc:postgresql://db.internal:5432/x"}, "error: config.connection.url"},
		{map[string]string{"connection.url": "10.1.0.4:5432"}, "error: config.connection.url"},
		{map[string]string{"connection.url": "tcp://10.1.0.4/x"}, "error: config.connection.url"},
		{map[string]string{"connection.url": "http://10.1.0.4:0/"}, "error: config.connection.url"},
		{map[string]string{"connection.host": "10.1.0.4"}, "error: config.connection.host"},
		{map[string]string{"connection.port": "1"}, "error: config.connection.port"},
		{map[string]string{"connection.host": "10.1.0.4", "connection.port": "x"}, "error: config.connection.port"},
	} {
		eps, err := control.ConnectorEndpoints(tt.config)
		var got []string
		for _, ep := range eps {
			got = append(got, ep.Key+"="+ep.String())
		}
		g := strings.Join(got, " ")
		if err != nil {
			g = "error: " + control.ErrorField(err)
		}
		if g != tt.want {
			t.Errorf("%v: got %q, want %q (err %v)", tt.config, g, tt.want, err)
		}
	}
}

func TestValidateConnector(t *testing.T) {
	ok := func() map[string]string { return map[string]string{"connector.class": "PostgresSink"} }
	for _, tt := range []struct {
		name   string
		config map[string]string
		field  string
	}{
		{"sink", ok(), ""},
		{"", ok(), "name"},
		{"has space", ok(), "name"},
		{"-dash", ok(), "name"},
		{strings.Repeat("a", 65), ok(), "name"},
		{"sink", nil, "config"},
		{"sink", map[string]string{"topics": "x"}, "config.connector.class"},
		{"sink", map[string]string{"connector.class": "X", "name": "other"}, "config.name"},
		{"sink", map[string]string{"connector.class": "X", "big": strings.Repeat("x", control.MaxConnectorConfigValue+1)}, "config.big"},
	} {
		c := &control.Connector{Name: tt.name, Config: tt.config}
		err := control.ValidateConnector(c)
		if got := control.ErrorField(err); got != tt.field || (err == nil) != (tt.field == "") {
			t.Errorf("%q %v: field %q, want %q (err %v)", tt.name, tt.config, got, tt.field, err)
		}
		if err == nil && c.Config["name"] != tt.name {
			t.Errorf("valid connector's config name is %q", c.Config["name"])
		}
	}
}

// FuzzConnectorEndpoints feeds arbitrary config values to the host parser:
// it must never panic, and whatever it accepts is an IP address with a
// port in 1-65535 named by a known key.
func FuzzConnectorEndpoints(f *testing.F) {
	for _, s := range []string{"jdbc:postgresql://10.1.0.4:5432/db", "mongodb://u:p@10.1.0.4,[fd00::1]:27018/x", "https://[fd00::4]/e",
		"jdbc:sqlserver://10.0.0.1:1433;a=b", "x://", "://", "http://@", "http://[", "http://10.0.0.1:", "10.0.0.1"} {
		f.Add(s, "10.0.0.1", "5432")
	}
	f.Fuzz(func(t *testing.T, url, host, port string) {
		eps, err := control.ConnectorEndpoints(map[string]string{"connection.url": url, "connection.host": host, "connection.port": port})
		if err != nil {
			if control.ErrorCode(err) != control.EINVALID || !strings.HasPrefix(control.ErrorField(err), "config.") {
				t.Fatalf("error %v is not a config field error", err)
			}
			return
		}
		for _, ep := range eps {
			if !ep.Addr.IsValid() || ep.Port < 1 || ep.Port > 65535 || (ep.Key != "connection.url" && ep.Key != "connection.host") {
				t.Fatalf("accepted %+v", ep)
			}
		}
	})
}
