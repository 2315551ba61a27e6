package cli

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"

	"github.com/spf13/cobra"
	"sigs.k8s.io/yaml"
)

// Output formats of -o.
const (
	outHuman = "human"
	outJSON  = "json"
	outYAML  = "yaml"
)

// addOutputFlag registers -o/--output on cmd.
func addOutputFlag(cmd *cobra.Command, out *string) {
	cmd.Flags().StringVarP(out, "output", "o", outHuman, "output format: human, json or yaml")
}

// checkOutput validates -o.
func checkOutput(cmd *cobra.Command, out string) error {
	switch out {
	case outHuman, outJSON, outYAML:
		return nil
	}
	return usageError(cmd, "invalid argument %q for \"-o, --output\" flag: want human, json or yaml", out)
}

// printRaw prints one API object (raw JSON) as json or yaml.
func printRaw(w io.Writer, format string, raw []byte) error {
	switch format {
	case outJSON:
		var buf bytes.Buffer
		if err := json.Indent(&buf, bytes.TrimSpace(raw), "", "  "); err != nil {
			return fmt.Errorf("the API's answer is not JSON: %w", err)
		}
		buf.WriteByte('\n')
		_, err := w.Write(buf.Bytes())
		return err
	case outYAML:
		y, err := yaml.JSONToYAML(raw)
		if err != nil {
			return fmt.Errorf("the API's answer is not JSON: %w", err)
		}
		_, err = w.Write(y)
		return err
	}
	return fmt.Errorf("unknown output format %q", format)
}

// printList prints items (raw API objects) as a JSON or YAML array.
func printList(w io.Writer, format string, items []json.RawMessage) error {
	if items == nil {
		items = []json.RawMessage{}
	}
	raw, err := json.Marshal(items)
	if err != nil {
		return err
	}
	return printRaw(w, format, raw)
}

// printObject prints raw as format, or, for human, as the key/value block
// of fields.
func printObject(w io.Writer, format string, raw []byte, fields func() [][2]string) error {
	if format != outHuman {
		return printRaw(w, format, raw)
	}
	printFields(w, fields())
	return nil
}

// printFields prints a describe block as the confluent CLI does:
//
//	+-------------+-------------+
//	| ID          | n-abc123    |
//	| Name        | prod        |
//	+-------------+-------------+
//
// Empty values are left out.
func printFields(w io.Writer, fields [][2]string) {
	var kept [][2]string
	kw, vw := 0, 0
	for _, f := range fields {
		if f[1] == "" {
			continue
		}
		f[1] = wrap(f[1], wrapWidth)
		kept = append(kept, f)
		kw = max(kw, width(f[0]))
		for _, line := range strings.Split(f[1], "\n") {
			vw = max(vw, width(line))
		}
	}
	border := "+" + strings.Repeat("-", kw+2) + "+" + strings.Repeat("-", vw+2) + "+\n"
	var b strings.Builder
	b.WriteString(border)
	for _, f := range kept {
		for i, line := range strings.Split(f[1], "\n") {
			k := f[0]
			if i > 0 {
				k = ""
			}
			fmt.Fprintf(&b, "| %s | %s |\n", pad(k, kw), pad(line, vw))
		}
	}
	b.WriteString(border)
	io.WriteString(w, b.String())
}

// printTable prints a list as the confluent CLI does:
//
//	     ID     | Name | Phase
//	------------+------+--------
//	  n-abc123  | prod | READY
func printTable(w io.Writer, header []string, rows [][]string) {
	widths := make([]int, len(header))
	for i, h := range header {
		widths[i] = width(h)
	}
	for _, r := range rows {
		for i := range header {
			if i < len(r) {
				widths[i] = max(widths[i], width(r[i]))
			}
		}
	}
	var b strings.Builder
	line := func(cells []string, center bool) {
		parts := make([]string, len(header))
		for i := range header {
			c := ""
			if i < len(cells) {
				c = cells[i]
			}
			if center {
				left := (widths[i] - width(c)) / 2
				c = strings.Repeat(" ", left) + c
			}
			parts[i] = " " + pad(c, widths[i]) + " "
		}
		b.WriteString(strings.TrimRight(strings.Join(parts, "|"), " ") + "\n")
	}
	line(header, true)
	seps := make([]string, len(header))
	for i := range header {
		seps[i] = strings.Repeat("-", widths[i]+2)
	}
	b.WriteString(strings.Join(seps, "+") + "\n")
	for _, r := range rows {
		line(r, false)
	}
	io.WriteString(w, b.String())
}

// wrapWidth is where describe blocks wrap long values (error messages).
const wrapWidth = 100

// wrap breaks each line of s at spaces so that lines stay within n runes
// (a longer word stays whole: ids and URLs are not cut).
func wrap(s string, n int) string {
	var out []string
	for _, line := range strings.Split(s, "\n") {
		cur := ""
		for _, w := range strings.Fields(line) {
			switch {
			case cur == "":
				cur = w
			case width(cur)+1+width(w) <= n:
				cur += " " + w
			default:
				out = append(out, cur)
				cur = w
			}
		}
		out = append(out, cur)
	}
	return strings.Join(out, "\n")
}

func width(s string) int { return utf8.RuneCountInString(s) }

func pad(s string, n int) string {
	if d := n - width(s); d > 0 {
		return s + strings.Repeat(" ", d)
	}
	return s
}

// --- the API objects, as much as the human output shows ---

type ref struct {
	ID string `json:"id"`
}

type meta struct {
	CreatedAt string `json:"created_at"`
	UpdatedAt string `json:"updated_at"`
}

type environmentObj struct {
	ID          string `json:"id"`
	DisplayName string `json:"display_name"`
	Metadata    meta   `json:"metadata"`
}

type networkObj struct {
	ID       string `json:"id"`
	Metadata meta   `json:"metadata"`
	Spec     struct {
		DisplayName     string   `json:"display_name"`
		Cloud           string   `json:"cloud"`
		Region          string   `json:"region"`
		ConnectionTypes []string `json:"connection_types"`
		CIDR            string   `json:"cidr"`
		Zones           []string `json:"zones"`
		Environment     ref      `json:"environment"`
	} `json:"spec"`
	Status struct {
		Phase        string `json:"phase"`
		ErrorCode    string `json:"error_code"`
		ErrorMessage string `json:"error_message"`
		Cloud        *struct {
			VNet         string `json:"vnet"`
			Subscription string `json:"subscription"`
		} `json:"cloud"`
	} `json:"status"`
}

type peeringObj struct {
	ID       string `json:"id"`
	Metadata meta   `json:"metadata"`
	Spec     struct {
		DisplayName string `json:"display_name"`
		Cloud       struct {
			Kind           string `json:"kind"`
			Tenant         string `json:"tenant"`
			VNet           string `json:"vnet"`
			CustomerRegion string `json:"customer_region"`
		} `json:"cloud"`
		Environment ref `json:"environment"`
		Network     ref `json:"network"`
	} `json:"spec"`
	Status struct {
		Phase        string `json:"phase"`
		ErrorCode    string `json:"error_code"`
		ErrorMessage string `json:"error_message"`
	} `json:"status"`
}

type clusterObj struct {
	ID       string `json:"id"`
	Metadata meta   `json:"metadata"`
	Spec     struct {
		DisplayName  string `json:"display_name"`
		Availability string `json:"availability"`
		Cloud        string `json:"cloud"`
		Region       string `json:"region"`
		Config       struct {
			Kind string `json:"kind"`
			CKU  int    `json:"cku"`
		} `json:"config"`
		KafkaBootstrapEndpoint string `json:"kafka_bootstrap_endpoint"`
		HTTPEndpoint           string `json:"http_endpoint"`
		Environment            ref    `json:"environment"`
		Network                ref    `json:"network"`
	} `json:"spec"`
	Status struct {
		Phase string `json:"phase"`
	} `json:"status"`
}

// decodeAs decodes an API object for the human output.
func decodeAs[T any](raw []byte) (*T, error) {
	v := new(T)
	if err := json.Unmarshal(raw, v); err != nil {
		return nil, fmt.Errorf("the API's answer is not the expected object: %w", err)
	}
	return v, nil
}
