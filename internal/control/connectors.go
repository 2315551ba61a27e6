package control

import (
	"context"
	"net/netip"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Connector is a managed connector (connect/v1) running in a Dedicated
// cluster. With the data plane on, the connector runtime runs the
// ManagedClasses and reports each run (ConnectorRun); otherwise its status
// is evaluated on each read from whether the cluster's network can reach
// every host its config names (internal/netcheck).
type Connector struct {
	OrgID         string
	EnvironmentID string
	ClusterID     string
	Name          string
	Config        map[string]string
	Paused        bool
	CreatedAt     time.Time
	UpdatedAt     time.Time
}

// Limits of a connector's name and config.
const (
	MaxConnectorConfigKeys  = 500
	MaxConnectorConfigValue = 16 << 10
)

var connectorNameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)

// ConnectorFilter selects connectors; empty fields match everything.
type ConnectorFilter struct {
	ClusterID string
}

// ConnectorService manages the managed connectors of the caller's
// Dedicated clusters. Every method returns ENOTFOUND (field
// "kafka_cluster_id") when the cluster does not exist in environment envID.
type ConnectorService interface {
	// FindConnector returns ENOTFOUND if the cluster has no such connector.
	FindConnector(ctx context.Context, envID, clusterID, name string) (*Connector, error)
	// FindConnectors returns the cluster's connectors ordered by name.
	FindConnectors(ctx context.Context, envID, clusterID string) ([]*Connector, error)
	// CreateConnector validates c (ValidateConnector) and stores it.
	// Returns ECONFLICT if the cluster has a connector of that name.
	CreateConnector(ctx context.Context, envID, clusterID string, c *Connector) error
	// PutConnectorConfig replaces the named connector's config, creating
	// the connector when it does not exist; created says which.
	PutConnectorConfig(ctx context.Context, envID, clusterID, name string, config map[string]string) (c *Connector, created bool, err error)
	// SetConnectorPaused pauses or resumes the connector.
	SetConnectorPaused(ctx context.Context, envID, clusterID, name string, paused bool) error
	// DeleteConnector removes the connector.
	DeleteConnector(ctx context.Context, envID, clusterID, name string) error
}

var _ ConnectorService = (*Service)(nil)

// ConnectorEndpoint is a host:port a connector's config names.
type ConnectorEndpoint struct {
	Key  string // the config key naming it, e.g. "connection.url"
	Addr netip.Addr
	Port int
}

func (e ConnectorEndpoint) String() string {
	return netip.AddrPortFrom(e.Addr, uint16(e.Port)).String()
}

// connectorURLKeys are config keys holding a URL (or a JDBC URL, or a
// MongoDB connection string with several hosts).
var connectorURLKeys = []string{"connection.url", "connection.uri", "http.api.url", "mongodb.connection.string"}

// connectorHostKeys pair a host key with its port key.
var connectorHostKeys = [][2]string{
	{"connection.host", "connection.port"},
	{"database.hostname", "database.port"},
}

// defaultPorts are the ports of URL schemes that may omit one.
var defaultPorts = map[string]int{
	"http": 80, "https": 443, "postgresql": 5432, "postgres": 5432, "mysql": 3306,
	"mariadb": 3306, "sqlserver": 1433, "oracle": 1521, "mongodb": 27017, "redis": 6379,
}

// ConnectorEndpoints returns the hosts a connector's config names, in the
// order of the keys above. A host must be an IP address: Peerplane resolves
// no DNS names, so a connector reaches a sink in a peered VNet by its
// private address. Returns EINVALID naming the config key otherwise.
func ConnectorEndpoints(config map[string]string) ([]ConnectorEndpoint, error) {
	var out []ConnectorEndpoint
	for _, key := range connectorURLKeys {
		v, ok := config[key]
		if !ok {
			continue
		}
		eps, err := urlEndpoints(key, v)
		if err != nil {
			return nil, err
		}
		out = append(out, eps...)
	}
	for _, kp := range connectorHostKeys {
		host, hasHost := config[kp[0]]
		port, hasPort := config[kp[1]]
		switch {
		case !hasHost && !hasPort:
			continue
		case !hasHost:
			return nil, configError(kp[1], "Config %q is set without %q: name the host too.", kp[1], kp[0])
		case !hasPort:
			return nil, configError(kp[0], "Config %q needs %q (the port to connect to).", kp[0], kp[1])
		}
		ep, err := hostPort(kp[0], kp[1], strings.TrimSpace(host), strings.TrimSpace(port), "")
		if err != nil {
			return nil, err
		}
		out = append(out, ep)
	}
	return out, nil
}

func configError(key, format string, args ...any) error {
	return FieldErrorf(EINVALID, "config."+key, format, args...)
}

// urlEndpoints reads "jdbc:postgresql://10.1.0.4:5432/db",
// "https://10.1.0.4/api", "mongodb://u:p@10.1.0.4,10.1.0.5:27018/db",
// "jdbc:sqlserver://10.1.0.4:1433;databaseName=x".
func urlEndpoints(key, v string) ([]ConnectorEndpoint, error) {
	s := strings.TrimSpace(v)
	s = strings.TrimPrefix(s, "jdbc:")
	scheme, rest, ok := strings.Cut(s, "://")
	if !ok || scheme == "" {
		return nil, configError(key, "Config %q is %q, not a URL of the form scheme://host:port/….", key, v)
	}
	scheme = strings.ToLower(scheme)
	scheme = strings.TrimSuffix(scheme, "+srv")
	if i := strings.IndexAny(rest, "/?;#"); i >= 0 {
		rest = rest[:i]
	}
	if i := strings.LastIndex(rest, "@"); i >= 0 {
		rest = rest[i+1:]
	}
	if rest == "" {
		return nil, configError(key, "Config %q (%q) names no host.", key, v)
	}
	var out []ConnectorEndpoint
	for _, hp := range strings.Split(rest, ",") {
		host, port := hp, ""
		if strings.HasPrefix(hp, "[") {
			end := strings.Index(hp, "]")
			if end < 0 {
				return nil, configError(key, "Config %q has an unterminated IPv6 address in %q.", key, v)
			}
			host, port = hp[1:end], strings.TrimPrefix(hp[end+1:], ":")
		} else if h, p, ok := strings.Cut(hp, ":"); ok {
			host, port = h, p
		}
		ep, err := hostPort(key, key, host, port, scheme)
		if err != nil {
			return nil, err
		}
		out = append(out, ep)
	}
	return out, nil
}

// hostPort reads host (named by config key) and port (named by portKey).
func hostPort(key, portKey, host, port, scheme string) (ConnectorEndpoint, error) {
	a, err := netip.ParseAddr(host)
	if err != nil || a.Zone() != "" {
		return ConnectorEndpoint{}, configError(key, "Host %q in config %q is not an IP address. Peerplane resolves no DNS names: use the private IP address of the host in your peered VNet.", host, key)
	}
	n := 0
	if port == "" {
		if n = defaultPorts[scheme]; n == 0 {
			return ConnectorEndpoint{}, configError(key, "Config %q names host %s without a port, and scheme %q has no default port: add :PORT.", key, host, scheme)
		}
	} else if n, err = strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return ConnectorEndpoint{}, configError(portKey, "Port %q in config %q is not a number from 1 to 65535.", port, portKey)
	}
	return ConnectorEndpoint{Key: key, Addr: a.Unmap(), Port: n}, nil
}

// ConnectorType is "sink" or "source", from the connector class's name.
func ConnectorType(config map[string]string) string {
	if strings.HasSuffix(strings.ToLower(config["connector.class"]), "sink") {
		return "sink"
	}
	return "source"
}

// ValidateConnector checks a connector's name and config: the name is 1-64
// letters, digits, '.', '_' or '-' (starting with a letter or digit), the
// config has "connector.class", its "name" (set to the connector's name
// when absent) equals the name, values are at most 16 KiB, and the hosts it
// names are IP addresses with ports (ConnectorEndpoints); for the classes
// the runtime runs (ManagedClasses), their keys are present and well formed
// (ParseDatagen, ParseHTTPSink, ParsePostgresSink).
func ValidateConnector(c *Connector) error {
	if c.Name == "" {
		return FieldErrorf(EINVALID, "name", "Connector name is required.")
	}
	if !connectorNameRE.MatchString(c.Name) {
		return FieldErrorf(EINVALID, "name", "Connector name %q must be 1 to 64 letters, digits, '.', '_' or '-', starting with a letter or digit.", c.Name)
	}
	if c.Config == nil {
		return FieldErrorf(EINVALID, "config", "Connector config is required.")
	}
	if len(c.Config) > MaxConnectorConfigKeys {
		return FieldErrorf(EINVALID, "config", "Connector config has %d keys; at most %d are allowed.", len(c.Config), MaxConnectorConfigKeys)
	}
	if n, ok := c.Config["name"]; ok && n != c.Name {
		return configError("name", "Config \"name\" (%q) must equal the connector's name %q.", n, c.Name)
	}
	if strings.TrimSpace(c.Config["connector.class"]) == "" {
		return configError("connector.class", "Config \"connector.class\" is required, e.g. \"PostgresSink\" or \"HttpSink\".")
	}
	keys := make([]string, 0, len(c.Config))
	for k := range c.Config {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		if k == "" {
			return FieldErrorf(EINVALID, "config", "Connector config has an empty key.")
		}
		if len(c.Config[k]) > MaxConnectorConfigValue {
			return configError(k, "Config %q is %d bytes; at most %d are allowed.", k, len(c.Config[k]), MaxConnectorConfigValue)
		}
	}
	if _, err := ConnectorEndpoints(c.Config); err != nil {
		return err
	}
	if err := validateManaged(c); err != nil {
		return err
	}
	if _, ok := c.Config["name"]; !ok {
		c.Config["name"] = c.Name
	}
	return nil
}

// --- service ---

// inCluster runs fn in a transaction (read-write when write) after
// checking that cluster clusterID exists in envID for the caller's
// organization, whose ID fn gets.
func (s *Service) inCluster(ctx context.Context, envID, clusterID string, write bool, fn func(tx Tx, orgID string) error) error {
	org, err := callerOrg(ctx)
	if err != nil {
		return err
	}
	run := s.store.View
	if write {
		run = s.store.Update
	}
	return run(ctx, func(tx Tx) error {
		c, err := tx.FindClusterByID(ctx, OrgScope(org.ID), clusterID) // locks the cluster inside Update
		if err == nil && c.EnvironmentID != envID {
			err = Errorf(ENOTFOUND, "")
		}
		if err != nil {
			return notFoundAs(err, "kafka_cluster_id", "Kafka cluster %s was not found in environment %s.", clusterID, envID)
		}
		return fn(tx, org.ID)
	})
}

// FindConnector implements ConnectorService.
func (s *Service) FindConnector(ctx context.Context, envID, clusterID, name string) (c *Connector, err error) {
	err = s.inCluster(ctx, envID, clusterID, false, func(tx Tx, orgID string) error {
		c, err = tx.FindConnector(ctx, OrgScope(orgID), clusterID, name)
		return err
	})
	return c, err
}

// FindConnectors implements ConnectorService.
func (s *Service) FindConnectors(ctx context.Context, envID, clusterID string) (cs []*Connector, err error) {
	err = s.inCluster(ctx, envID, clusterID, false, func(tx Tx, orgID string) error {
		cs, err = tx.FindConnectors(ctx, OrgScope(orgID), ConnectorFilter{ClusterID: clusterID})
		return err
	})
	return cs, err
}

// CreateConnector implements ConnectorService.
func (s *Service) CreateConnector(ctx context.Context, envID, clusterID string, c *Connector) error {
	if err := ValidateConnector(c); err != nil {
		return err
	}
	c.EnvironmentID, c.ClusterID = envID, clusterID
	c.CreatedAt = s.now()
	c.UpdatedAt = c.CreatedAt
	err := s.inCluster(ctx, envID, clusterID, true, func(tx Tx, orgID string) error {
		c.OrgID = orgID
		return tx.CreateConnector(ctx, c)
	})
	if err == nil {
		s.changed(ObjectKey{KindConnector, clusterID + "/" + c.Name})
	}
	return err
}

// PutConnectorConfig implements ConnectorService.
func (s *Service) PutConnectorConfig(ctx context.Context, envID, clusterID, name string, config map[string]string) (*Connector, bool, error) {
	c := &Connector{Name: name, Config: config}
	if err := ValidateConnector(c); err != nil {
		return nil, false, err
	}
	created := false
	err := s.inCluster(ctx, envID, clusterID, true, func(tx Tx, orgID string) error {
		old, err := tx.FindConnector(ctx, OrgScope(orgID), clusterID, name)
		now := s.now()
		switch {
		case err == nil:
			old.Config, old.UpdatedAt = c.Config, now
			c = old
			return tx.UpdateConnector(ctx, c)
		case ErrorCode(err) == ENOTFOUND:
			created = true
			c.OrgID, c.EnvironmentID, c.ClusterID, c.CreatedAt, c.UpdatedAt = orgID, envID, clusterID, now, now
			return tx.CreateConnector(ctx, c)
		default:
			return err
		}
	})
	if err != nil {
		return nil, false, err
	}
	s.changed(ObjectKey{KindConnector, clusterID + "/" + name})
	return c, created, nil
}

// SetConnectorPaused implements ConnectorService.
func (s *Service) SetConnectorPaused(ctx context.Context, envID, clusterID, name string, paused bool) error {
	err := s.inCluster(ctx, envID, clusterID, true, func(tx Tx, orgID string) error {
		c, err := tx.FindConnector(ctx, OrgScope(orgID), clusterID, name)
		if err != nil {
			return err
		}
		c.Paused, c.UpdatedAt = paused, s.now()
		return tx.UpdateConnector(ctx, c)
	})
	if err == nil {
		s.changed(ObjectKey{KindConnector, clusterID + "/" + name})
	}
	return err
}

// DeleteConnector implements ConnectorService.
func (s *Service) DeleteConnector(ctx context.Context, envID, clusterID, name string) error {
	err := s.inCluster(ctx, envID, clusterID, true, func(tx Tx, orgID string) error {
		return tx.DeleteConnector(ctx, OrgScope(orgID), clusterID, name)
	})
	if err == nil {
		s.changed(ObjectKey{KindConnector, clusterID + "/" + name})
	}
	return err
}
