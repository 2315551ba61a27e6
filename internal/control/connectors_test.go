package control_test

import (
	"maps"
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
	ok := func() map[string]string { return map[string]string{"connector.class": "MySqlSink"} }
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

// TestValidateManagedConnector checks the keys of the classes the runtime
// runs: each bad or missing one is EINVALID naming it.
func TestValidateManagedConnector(t *testing.T) {
	with := func(base map[string]string) func(kv ...string) map[string]string {
		return func(kv ...string) map[string]string {
			c := maps.Clone(base)
			for i := 0; i+1 < len(kv); i += 2 {
				c[kv[i]] = kv[i+1]
			}
			return c
		}
	}
	gen := with(map[string]string{"connector.class": "DatagenSource", "kafka.topic": "orders", "quickstart": "ORDERS"})
	http := with(map[string]string{"connector.class": "HttpSink", "http.api.url": "http://10.1.0.4:8080/in", "topics": "orders"})
	pg := with(map[string]string{"connector.class": "PostgresSink", "connection.url": "jdbc:postgresql://10.1.0.4:5432/orders", "topics": "orders"})
	del := func(c map[string]string, k string) map[string]string { delete(c, k); return c }
	for _, tt := range []struct {
		config map[string]string
		field  string
	}{
		{gen(), ""},
		{gen("quickstart", "users", "max.interval", "0", "iterations", "10", "output.data.format", "JSON"), ""},
		{del(gen(), "kafka.topic"), "config.kafka.topic"},
		{gen("kafka.topic", "bad topic"), "config.kafka.topic"},
		{del(gen(), "quickstart"), "config.quickstart"},
		{gen("quickstart", "PAGEVIEWS"), "config.quickstart"},
		{gen("max.interval", "-1"), "config.max.interval"},
		{gen("max.interval", "soon"), "config.max.interval"},
		{gen("iterations", "0"), "config.iterations"},
		{gen("output.data.format", "AVRO"), "config.output.data.format"},
		{http(), ""},
		{http("batch.max.size", "50", "max.retries", "0", "retry.backoff.ms", "0", "request.method", "put", "errors.tolerance", "none",
			"errors.deadletterqueue.topic.name", "my-dlq", "batch.json.as.array", "true"), ""},
		{del(http(), "topics"), "config.topics"},
		{http("topics", " , "), "config.topics"},
		{http("topics", "a,b c"), "config.topics"},
		{del(http(), "http.api.url"), "config.http.api.url"},
		{http("http.api.url", "ftp://10.1.0.4/x"), "config.http.api.url"},
		{http("batch.max.size", "0"), "config.batch.max.size"},
		{http("max.retries", "many"), "config.max.retries"},
		{http("retry.backoff.ms", "-5"), "config.retry.backoff.ms"},
		{http("request.method", "GET"), "config.request.method"},
		{http("batch.json.as.array", "yes"), "config.batch.json.as.array"},
		{http("errors.tolerance", "some"), "config.errors.tolerance"},
		{http("errors.deadletterqueue.topic.name", "dlq!"), "config.errors.deadletterqueue.topic.name"},
		{pg(), ""},
		{pg("connection.user", "app", "connection.password", "x", "auto.create", "true", "auto.evolve", "false", "table.name.format", "kafka_${topic}", "insert.mode", "insert"), ""},
		{del(pg(), "topics"), "config.topics"},
		{pg("connection.url", "jdbc:mysql://10.1.0.4:3306/x"), "config.connection.url"},
		{pg("connection.url", "jdbc:postgresql://10.1.0.4:5432/"), "config.connection.url"},
		{pg("insert.mode", "UPSERT"), "config.insert.mode"},
		{pg("pk.mode", "record_value"), "config.pk.mode"},
		{pg("auto.create", "maybe"), "config.auto.create"},
		{pg("table.name.format", "${topic}-table"), "config.table.name.format"},
		{pg("batch.sizes", "0"), "config.batch.sizes"},
	} {
		err := control.ValidateConnector(&control.Connector{Name: "c", Config: tt.config})
		if got := control.ErrorField(err); got != tt.field || (err == nil) != (tt.field == "") {
			t.Errorf("%v: field %q, want %q (err %v)", tt.config, got, tt.field, err)
		}
		if err != nil && !strings.Contains(control.ErrorMessage(err), strings.TrimPrefix(tt.field, "config.")) {
			t.Errorf("%v: the message does not name the key: %s", tt.config, control.ErrorMessage(err))
		}
	}
	hc, err := control.ParseHTTPSink("lkc-1", "sink", http())
	if err != nil || hc.BatchMaxSize != 1 || hc.MaxRetries != 10 || hc.RetryBackoff.Milliseconds() != 3000 || !hc.Errors.Tolerate ||
		hc.Errors.DLQTopic != "dlq-"+control.ConnectorID("lkc-1", "sink") || hc.Method != "POST" || !hc.JSON {
		t.Fatalf("HttpSink defaults: %+v %v", hc, err)
	}
	pc, err := control.ParsePostgresSink("lkc-1", "sink", pg())
	if err != nil || pc.Host != "10.1.0.4" || pc.Port != 5432 || pc.Database != "orders" || pc.TableName("t") != "t" || pc.AutoCreate {
		t.Fatalf("PostgresSink defaults: %+v %v", pc, err)
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
