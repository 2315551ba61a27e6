package control

import (
	"crypto/sha256"
	"encoding/base32"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// The connector classes Peerplane runs when its data plane is on. Other
// classes are accepted and modelled (their status says whether the
// cluster's network reaches their hosts) but move no records.
const (
	ClassDatagenSource = "DatagenSource"
	ClassHttpSink      = "HttpSink"
	ClassPostgresSink  = "PostgresSink"
)

// ManagedClasses are the classes the connector runtime runs.
var ManagedClasses = []string{ClassDatagenSource, ClassHttpSink, ClassPostgresSink}

// IsManagedClass reports whether class is one the runtime runs.
func IsManagedClass(class string) bool {
	for _, c := range ManagedClasses {
		if c == strings.TrimSpace(class) {
			return true
		}
	}
	return false
}

// ConnectorID is a connector's stable lcc- id, derived from its cluster and
// name (so a connector deleted and created again under its name keeps it).
func ConnectorID(clusterID, name string) string {
	sum := sha256.Sum256([]byte(clusterID + "/" + name))
	return "lcc-" + strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(sum[:])[:6])
}

// DatagenSource quickstarts (Confluent's datagen quickstart schemas).
const (
	QuickstartOrders = "ORDERS"
	QuickstartUsers  = "USERS"
)

// DatagenConfig is a DatagenSource's config.
type DatagenConfig struct {
	Topic       string        // kafka.topic
	Quickstart  string        // quickstart: ORDERS or USERS
	MaxInterval time.Duration // max.interval: at most this long between records (each wait is random below it)
	Iterations  int64         // iterations: how many records in all; 0 for no end
}

// HTTPSinkConfig is an HttpSink's config.
type HTTPSinkConfig struct {
	URL            string        // http.api.url
	Topics         []string      // topics
	Method         string        // request.method: POST, PUT or PATCH
	JSON           bool          // request.body.format: json (Content-Type application/json) or string
	BatchMaxSize   int           // batch.max.size: records per request
	BatchAsArray   bool          // batch.json.as.array: the batch as a JSON array
	Prefix, Suffix string        // batch.prefix, batch.suffix
	Separator      string        // batch.separator
	MaxRetries     int           // max.retries
	RetryBackoff   time.Duration // retry.backoff.ms: the first wait, doubling up to 30 s
	ConnectTimeout time.Duration // http.connect.timeout.ms
	RequestTimeout time.Duration // http.request.timeout.ms
	Errors         ErrorsConfig
}

// PostgresSinkConfig is a PostgresSink's config.
type PostgresSinkConfig struct {
	Host     string // from connection.url
	Port     int
	Database string
	User     string // connection.user
	Password string // connection.password
	Topics   []string
	// TableFormat is table.name.format, "${topic}" by default.
	TableFormat string
	AutoCreate  bool // auto.create: create a missing table from a record's fields
	AutoEvolve  bool // auto.evolve: add a column for a field the table lacks
	BatchSize   int  // batch.sizes: records per transaction
	Errors      ErrorsConfig
}

// ErrorsConfig is a sink's handling of records it cannot deliver.
type ErrorsConfig struct {
	// Tolerate is errors.tolerance=all (the default): a record the sink
	// rejects goes to the dead-letter topic and the connector goes on;
	// with none, the connector fails.
	Tolerate bool
	// DLQTopic is errors.deadletterqueue.topic.name, "dlq-<connector id>"
	// by default.
	DLQTopic string
}

// TableName is the table a record of topic goes to.
func (c PostgresSinkConfig) TableName(topic string) string {
	return strings.ReplaceAll(c.TableFormat, "${topic}", topic)
}

var (
	topicRE      = regexp.MustCompile(`^[A-Za-z0-9._-]{1,249}$`)
	identifierRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_$]{0,62}$`)
)

// configReader reads typed keys of a config, remembering the first error.
type configReader struct {
	config map[string]string
	err    error
}

func (r *configReader) fail(key, format string, args ...any) {
	if r.err == nil {
		r.err = configError(key, format, args...)
	}
}

func (r *configReader) str(key, def string) string {
	if v, ok := r.config[key]; ok && strings.TrimSpace(v) != "" {
		return strings.TrimSpace(v)
	}
	return def
}

func (r *configReader) required(key, example string) string {
	v := r.str(key, "")
	if v == "" {
		r.fail(key, "Config %q is required for %s, e.g. %q.", key, r.config["connector.class"], example)
	}
	return v
}

func (r *configReader) integer(key string, def, lo, hi int64) int64 {
	v := r.str(key, "")
	if v == "" {
		return def
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < lo || n > hi {
		r.fail(key, "Config %q is %q, not a whole number from %d to %d.", key, v, lo, hi)
		return def
	}
	return n
}

func (r *configReader) millis(key string, def, lo, hi int64) time.Duration {
	return time.Duration(r.integer(key, def, lo, hi)) * time.Millisecond
}

func (r *configReader) boolean(key string, def bool) bool {
	v := r.str(key, "")
	switch strings.ToLower(v) {
	case "":
		return def
	case "true":
		return true
	case "false":
		return false
	}
	r.fail(key, "Config %q is %q, not true or false.", key, v)
	return def
}

func (r *configReader) oneOf(key, def string, values ...string) string {
	v := r.str(key, def)
	for _, w := range values {
		if strings.EqualFold(v, w) {
			return w
		}
	}
	r.fail(key, "Config %q is %q, not one of %s.", key, v, strings.Join(values, ", "))
	return def
}

func (r *configReader) topic(key, v string) string {
	if v != "" && !topicRE.MatchString(v) {
		r.fail(key, "Config %q names topic %q: a topic name is 1 to 249 letters, digits, '.', '_' or '-'.", key, v)
	}
	return v
}

func (r *configReader) topics() []string {
	v := r.required("topics", "orders")
	var out []string
	for _, t := range strings.Split(v, ",") {
		if t = strings.TrimSpace(t); t != "" {
			out = append(out, r.topic("topics", t))
		}
	}
	if v != "" && len(out) == 0 {
		r.fail("topics", "Config \"topics\" names no topic.")
	}
	return out
}

func (r *configReader) errorsConfig(clusterID, name string) ErrorsConfig {
	e := ErrorsConfig{Tolerate: r.oneOf("errors.tolerance", "all", "all", "none") == "all"}
	e.DLQTopic = r.topic("errors.deadletterqueue.topic.name", r.str("errors.deadletterqueue.topic.name", "dlq-"+ConnectorID(clusterID, name)))
	return e
}

// ParseDatagen reads a DatagenSource's config. Returns EINVALID naming the
// config key at fault.
func ParseDatagen(config map[string]string) (DatagenConfig, error) {
	r := &configReader{config: config}
	c := DatagenConfig{
		Topic:       r.topic("kafka.topic", r.required("kafka.topic", "orders")),
		Quickstart:  r.oneOf("quickstart", "", QuickstartOrders, QuickstartUsers),
		MaxInterval: r.millis("max.interval", 1000, 0, 3_600_000),
		Iterations:  r.integer("iterations", -1, -1, 1<<62),
	}
	if c.Iterations < 0 {
		c.Iterations = 0
	} else if c.Iterations == 0 {
		r.fail("iterations", "Config \"iterations\" is 0: give a number of records, or -1 for no end.")
	}
	r.oneOf("output.data.format", "JSON", "JSON")
	return c, r.err
}

// ParseHTTPSink reads an HttpSink's config. Returns EINVALID naming the
// config key at fault.
func ParseHTTPSink(clusterID, name string, config map[string]string) (HTTPSinkConfig, error) {
	r := &configReader{config: config}
	c := HTTPSinkConfig{
		URL:            r.required("http.api.url", "http://10.1.0.4:8080/events"),
		Topics:         r.topics(),
		Method:         r.oneOf("request.method", "POST", "POST", "PUT", "PATCH"),
		JSON:           r.oneOf("request.body.format", "json", "json", "string") == "json",
		BatchMaxSize:   int(r.integer("batch.max.size", 1, 1, 1_000_000)),
		BatchAsArray:   r.boolean("batch.json.as.array", false),
		Prefix:         r.config["batch.prefix"],
		Suffix:         r.config["batch.suffix"],
		Separator:      ",",
		MaxRetries:     int(r.integer("max.retries", 10, 0, 1_000_000)),
		RetryBackoff:   r.millis("retry.backoff.ms", 3000, 0, 3_600_000),
		ConnectTimeout: r.millis("http.connect.timeout.ms", 30_000, 1, 3_600_000),
		RequestTimeout: r.millis("http.request.timeout.ms", 30_000, 1, 3_600_000),
		Errors:         r.errorsConfig(clusterID, name),
	}
	if s, ok := config["batch.separator"]; ok {
		c.Separator = s
	}
	if c.BatchAsArray {
		c.Prefix, c.Suffix, c.Separator = "[", "]", ","
	}
	if u := strings.ToLower(c.URL); c.URL != "" && !strings.HasPrefix(u, "http://") && !strings.HasPrefix(u, "https://") {
		r.fail("http.api.url", "Config \"http.api.url\" is %q, not an http:// or https:// URL.", c.URL)
	}
	return c, r.err
}

// ParsePostgresSink reads a PostgresSink's config. Returns EINVALID naming
// the config key at fault.
func ParsePostgresSink(clusterID, name string, config map[string]string) (PostgresSinkConfig, error) {
	r := &configReader{config: config}
	c := PostgresSinkConfig{
		User:        r.str("connection.user", ""),
		Password:    config["connection.password"],
		Topics:      r.topics(),
		TableFormat: r.str("table.name.format", "${topic}"),
		AutoCreate:  r.boolean("auto.create", false),
		AutoEvolve:  r.boolean("auto.evolve", false),
		BatchSize:   int(r.integer("batch.sizes", 3000, 1, 1_000_000)),
		Errors:      r.errorsConfig(clusterID, name),
	}
	if mode := r.str("insert.mode", "INSERT"); !strings.EqualFold(mode, "INSERT") {
		r.fail("insert.mode", "Config \"insert.mode\" is %q: Peerplane's PostgresSink inserts (INSERT) only.", mode)
	}
	if pk := r.str("pk.mode", "none"); !strings.EqualFold(pk, "none") {
		r.fail("pk.mode", "Config \"pk.mode\" is %q: Peerplane's PostgresSink supports none only.", pk)
	}
	u := r.required("connection.url", "jdbc:postgresql://10.1.0.4:5432/orders")
	if u != "" {
		s := strings.TrimPrefix(u, "jdbc:")
		scheme, rest, _ := strings.Cut(s, "://")
		if scheme != "postgresql" && scheme != "postgres" {
			r.fail("connection.url", "Config \"connection.url\" is %q, not jdbc:postgresql://HOST:PORT/DATABASE.", u)
		}
		hostPort, db, _ := strings.Cut(rest, "/")
		db, _, _ = strings.Cut(db, "?")
		if eps, err := urlEndpoints("connection.url", u); err != nil {
			if r.err == nil {
				r.err = err
			}
		} else if len(eps) != 1 {
			r.fail("connection.url", "Config \"connection.url\" names %d hosts in %q; PostgresSink connects to one.", len(eps), hostPort)
		} else {
			c.Host, c.Port = eps[0].Addr.String(), eps[0].Port
		}
		if db == "" {
			r.fail("connection.url", "Config \"connection.url\" (%q) names no database: jdbc:postgresql://HOST:PORT/DATABASE.", u)
		}
		c.Database = db
	}
	for _, t := range c.Topics {
		if tbl := c.TableName(t); !identifierRE.MatchString(tbl) {
			r.fail("table.name.format", "Config \"table.name.format\" makes table %q of topic %q: a table name here is 1 to 63 letters, digits, '_' or '$', not starting with a digit.", tbl, t)
			break
		}
	}
	return c, r.err
}

// validateManaged checks the keys of the classes the runtime runs.
func validateManaged(c *Connector) error {
	var err error
	switch strings.TrimSpace(c.Config["connector.class"]) {
	case ClassDatagenSource:
		_, err = ParseDatagen(c.Config)
	case ClassHttpSink:
		_, err = ParseHTTPSink(c.ClusterID, c.Name, c.Config)
	case ClassPostgresSink:
		_, err = ParsePostgresSink(c.ClusterID, c.Name, c.Config)
	}
	return err
}
