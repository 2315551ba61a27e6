package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"sort"
	"strings"

	"github.com/spf13/cobra"
)

// connect cluster …: managed connectors through connect/v1, shaped like
// `confluent connect cluster …`. A connector is named by its name or its
// lcc- id.

func connectorsPath(env, cluster string) string {
	return "/connect/v1/environments/" + url.PathEscape(env) + "/clusters/" + url.PathEscape(cluster) + "/connectors"
}

// connectorExpansion is one entry of the list with expand=id,info,status.
type connectorExpansion struct {
	ID struct {
		ID string `json:"id"`
	} `json:"id"`
	Info struct {
		Name   string            `json:"name"`
		Config map[string]string `json:"config"`
		Type   string            `json:"type"`
	} `json:"info"`
	Status struct {
		Connector struct {
			State string `json:"state"`
			Trace string `json:"trace"`
		} `json:"connector"`
		// Peerplane's additions, once the connector has run.
		Metrics *struct {
			ReceivedRecords        int64 `json:"received_records"`
			SentRecords            int64 `json:"sent_records"`
			DeadLetterQueueRecords int64 `json:"dead_letter_queue_records"`
		} `json:"metrics,omitempty"`
		LastError *struct {
			Message string `json:"message"`
			Time    string `json:"time"`
		} `json:"last_error,omitempty"`
		SourceAddress string `json:"source_address,omitempty"`
	} `json:"status"`
}

// expandedConnectors lists the cluster's connectors with their ids, info
// and status, ordered by name.
func (c *client) expandedConnectors(ctx context.Context, env, cluster string) ([]connectorExpansion, error) {
	raw, err := c.do(ctx, http.MethodGet, connectorsPath(env, cluster), url.Values{"expand": {"id,info,status"}}, nil)
	if err != nil {
		return nil, err
	}
	var m map[string]connectorExpansion
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, fmt.Errorf("the API's connector list is not JSON: %w", err)
	}
	out := make([]connectorExpansion, 0, len(m))
	for _, x := range m {
		out = append(out, x)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Info.Name < out[j].Info.Name })
	return out, nil
}

// connectorName resolves a name or lcc- id to the connector's name.
func (c *client) connectorName(ctx context.Context, env, cluster, arg string) (string, error) {
	if !strings.HasPrefix(arg, "lcc-") {
		return arg, nil
	}
	all, err := c.expandedConnectors(ctx, env, cluster)
	if err != nil {
		return "", err
	}
	for _, x := range all {
		if x.ID.ID == arg {
			return x.Info.Name, nil
		}
	}
	return "", fmt.Errorf("connector %q was not found in Kafka cluster %s", arg, cluster)
}

// readConnectorFile reads a connector's JSON file: {"name":…,"config":{…}},
// or the flat config with its "name", as `confluent connect cluster create
// --config-file` accepts.
func readConnectorFile(path string) (name string, config map[string]string, err error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", nil, err
	}
	var wrapped struct {
		Name   string            `json:"name"`
		Config map[string]string `json:"config"`
	}
	if json.Unmarshal(b, &wrapped) == nil && wrapped.Config != nil {
		if wrapped.Name == "" {
			wrapped.Name = wrapped.Config["name"]
		}
		return wrapped.Name, wrapped.Config, nil
	}
	if err := json.Unmarshal(b, &config); err != nil {
		return "", nil, fmt.Errorf("%s: want a JSON object of strings (the config, with \"name\"), or {\"name\":…,\"config\":{…}}: %v", path, err)
	}
	return config["name"], config, nil
}

var (
	blockCodeRE   = regexp.MustCompile(`\b[A-Z][A-Z_]{5,}\b`)
	cannotReachRE = regexp.MustCompile(`Cannot reach (\S+)`)
)

// shortReason sums a status trace up for a table: each unreachable host
// with its blocking code ("NSG_DENY: 10.1.0.4:5432"), else the trace's
// first line cut to 80 characters. `describe` shows the whole trace.
func shortReason(trace string) string {
	var parts []string
	for _, line := range strings.Split(trace, "\n") {
		host, code := cannotReachRE.FindStringSubmatch(line), blockCodeRE.FindString(line)
		if host == nil || code == "" {
			continue
		}
		parts = append(parts, code+": "+host[1])
	}
	if len(parts) > 0 {
		return strings.Join(parts, "; ")
	}
	first, _, _ := strings.Cut(trace, "\n")
	if r := []rune(first); len(r) > 80 {
		return string(r[:79]) + "…"
	}
	return first
}

func connectorFields(x connectorExpansion) [][2]string {
	f := [][2]string{
		{"ID", x.ID.ID}, {"Name", x.Info.Name}, {"Class", x.Info.Config["connector.class"]}, {"Type", x.Info.Type},
		{"Status", x.Status.Connector.State}, {"Trace", x.Status.Connector.Trace},
	}
	if m := x.Status.Metrics; m != nil {
		f = append(f, [2]string{"Records in", fmt.Sprint(m.ReceivedRecords)}, [2]string{"Records out", fmt.Sprint(m.SentRecords)},
			[2]string{"Records to DLQ", fmt.Sprint(m.DeadLetterQueueRecords)})
	}
	if e := x.Status.LastError; e != nil {
		f = append(f, [2]string{"Last error", e.Message}, [2]string{"Last error at", e.Time})
	}
	if a := x.Status.SourceAddress; a != "" {
		f = append(f, [2]string{"Source address", a})
	}
	keys := make([]string, 0, len(x.Info.Config))
	for k := range x.Info.Config {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if k != "connector.class" && k != "name" {
			f = append(f, [2]string{"Config " + k, x.Info.Config[k]})
		}
	}
	return f
}

func (a *app) newConnectCmd() *cobra.Command {
	connect := &cobra.Command{Use: "connect", Short: "Manage managed connectors in Dedicated Kafka clusters"}
	a.addConnFlags(connect)
	cmd := &cobra.Command{Use: "cluster", Short: "Manage connectors: a connector runs when its cluster's network reaches every host it names"}
	connect.AddCommand(cmd)

	var out, env, cluster, configFile string
	// withCluster wraps RunE with the environment's client.
	withCluster := func(run func(cmd *cobra.Command, args []string, c *client, env string) error) func(*cobra.Command, []string) error {
		return func(cmd *cobra.Command, args []string) error {
			env, c, err := a.start(cmd, out, env)
			if err != nil {
				return err
			}
			return run(cmd, args, c, env)
		}
	}
	flags := func(c *cobra.Command, output bool) {
		c.Flags().StringVar(&cluster, "cluster", "", "Kafka cluster ID (lkc-…)")
		_ = c.MarkFlagRequired("cluster")
		addEnvFlag(c, &env)
		if output {
			addOutputFlag(c, &out)
		}
	}
	// show prints the connector name's description, with its status.
	show := func(cmd *cobra.Command, c *client, env, name string) error {
		all, err := c.expandedConnectors(cmd.Context(), env, cluster)
		if err != nil {
			return err
		}
		for _, x := range all {
			if x.Info.Name != name {
				continue
			}
			if out != outHuman {
				raw, err := json.Marshal(x)
				if err != nil {
					return err
				}
				return printRaw(cmd.OutOrStdout(), out, raw)
			}
			printFields(cmd.OutOrStdout(), connectorFields(x))
			return nil
		}
		return fmt.Errorf("connector %q was not found in Kafka cluster %s", name, cluster)
	}

	create := &cobra.Command{
		Use:   "create --config-file FILE --cluster lkc-…",
		Short: "Create a connector",
		Long: `Create a connector from a JSON file: the config with its "name", or
{"name": …, "config": {…}}. The hosts it names (connection.url,
connection.uri, http.api.url, connection.host + connection.port,
database.hostname + database.port) must be IP addresses in VNets peered with
the cluster's network. The connector runs when the network reaches each of
them; otherwise it is FAILED and its trace says why and how to fix it.`,
		Example: `  echo '{"name":"orders-sink","connector.class":"PostgresSink","connection.url":"jdbc:postgresql://10.1.0.4:5432/orders","topics":"orders"}' > sink.json
  peerplane connect cluster create --config-file sink.json --cluster lkc-abc123`,
		Args: cobra.NoArgs,
		RunE: withCluster(func(cmd *cobra.Command, args []string, c *client, env string) error {
			name, config, err := readConnectorFile(configFile)
			if err != nil {
				return err
			}
			if _, err := c.do(cmd.Context(), http.MethodPost, connectorsPath(env, cluster), nil, map[string]any{"name": name, "config": config}); err != nil {
				return err
			}
			if out == outHuman {
				fmt.Fprintf(cmd.OutOrStdout(), "Created connector %q.\n", name)
			}
			return show(cmd, c, env, name)
		}),
	}
	flags(create, true)
	create.Flags().StringVar(&configFile, "config-file", "", "JSON file with the connector's name and config")
	_ = create.MarkFlagRequired("config-file")

	update := &cobra.Command{
		Use:   "update NAME|ID --config-file FILE --cluster lkc-…",
		Short: "Replace a connector's config",
		Args:  exactArgs("name"),
		RunE: withCluster(func(cmd *cobra.Command, args []string, c *client, env string) error {
			name, err := c.connectorName(cmd.Context(), env, cluster, args[0])
			if err != nil {
				return err
			}
			_, config, err := readConnectorFile(configFile)
			if err != nil {
				return err
			}
			if _, err := c.do(cmd.Context(), http.MethodPut, connectorsPath(env, cluster)+"/"+url.PathEscape(name)+"/config", nil, config); err != nil {
				return err
			}
			return show(cmd, c, env, name)
		}),
	}
	flags(update, true)
	update.Flags().StringVar(&configFile, "config-file", "", "JSON file with the connector's config")
	_ = update.MarkFlagRequired("config-file")

	list := &cobra.Command{
		Use:   "list --cluster lkc-…",
		Short: "List connectors with their status",
		Args:  cobra.NoArgs,
		RunE: withCluster(func(cmd *cobra.Command, args []string, c *client, env string) error {
			all, err := c.expandedConnectors(cmd.Context(), env, cluster)
			if err != nil {
				return err
			}
			if out != outHuman {
				raw, err := json.Marshal(all)
				if err != nil {
					return err
				}
				return printRaw(cmd.OutOrStdout(), out, raw)
			}
			var rows [][]string
			for _, x := range all {
				rows = append(rows, []string{x.ID.ID, x.Info.Name, x.Status.Connector.State, x.Info.Type, shortReason(x.Status.Connector.Trace)})
			}
			printTable(cmd.OutOrStdout(), []string{"ID", "Name", "Status", "Type", "Reason"}, rows)
			return nil
		}),
	}
	flags(list, true)

	describe := &cobra.Command{
		Use:   "describe NAME|ID --cluster lkc-…",
		Short: "Describe a connector: its config (secrets redacted), status and why",
		Args:  exactArgs("name"),
		RunE: withCluster(func(cmd *cobra.Command, args []string, c *client, env string) error {
			name, err := c.connectorName(cmd.Context(), env, cluster, args[0])
			if err != nil {
				return err
			}
			return show(cmd, c, env, name)
		}),
	}
	flags(describe, true)

	// action builds delete, pause and resume.
	action := func(use, short, method, suffix, done string) *cobra.Command {
		ac := &cobra.Command{
			Use:   use + " NAME|ID --cluster lkc-…",
			Short: short,
			Args:  exactArgs("name"),
			RunE: withCluster(func(cmd *cobra.Command, args []string, c *client, env string) error {
				name, err := c.connectorName(cmd.Context(), env, cluster, args[0])
				if err != nil {
					return err
				}
				if _, err := c.do(cmd.Context(), method, connectorsPath(env, cluster)+"/"+url.PathEscape(name)+suffix, nil, nil); err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "%s connector %q.\n", done, name)
				return nil
			}),
		}
		flags(ac, false)
		return ac
	}
	cmd.AddCommand(create, update, list, describe,
		action("delete", "Delete a connector", http.MethodDelete, "", "Deleted"),
		action("pause", "Pause a connector", http.MethodPut, "/pause", "Paused"),
		action("resume", "Resume a connector", http.MethodPut, "/resume", "Resumed"))
	return connect
}
