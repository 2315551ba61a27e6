package main

import (
	"bytes"
	"context"
	"crypto/x509"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/spf13/cobra"
)

// newAzureCmd is the customer side of the embedded Azure, shaped like az.
func newAzureCmd(getenv func(string) string) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "azure",
		Short: "Act as the customer on the embedded Azure (az-shaped commands)",
	}
	cmd.AddCommand(newAzEnvCmd(getenv))
	return cmd
}

// AzEnvConfig says which embedded Azure the az CLI should talk to and
// where its isolated configuration lives.
type AzEnvConfig struct {
	// DataDir is the data directory of `peerplane serve`; its
	// endpoints.json names the embedded Azure unless AzureURL is set.
	DataDir string
	// AzureURL and CAFile, together, name the embedded Azure directly.
	AzureURL string
	CAFile   string
	// ConfigDir becomes AZURE_CONFIG_DIR; default DataDir/az.
	ConfigDir string
	// CloudName is the name the cloud is registered under.
	CloudName string
	// Shim puts Peerplane's sitecustomize.py for Debian's azure-cli 2.45
	// (Azure/azure-cli#24959) on PYTHONPATH.
	Shim bool
	// Az is the az executable; default "az" on PATH.
	Az string
	// Env is the environment az runs with before the exports are added;
	// nil means the process environment.
	Env []string
}

// AzEnvVar is one exported environment variable.
type AzEnvVar struct{ Name, Value string }

// azCloudProfile is the API profile Debian's azure-cli 2.45 needs: with
// "latest", its older azure-mgmt-network cannot even load `az network`.
const azCloudProfile = "2020-09-01-hybrid"

// azManagementAudience is the token audience az asks for when it calls ARM,
// as in Azure's public cloud.
const azManagementAudience = "https://management.core.windows.net/"

// azQuietEnv keeps az from reaching Microsoft (telemetry, surveys) and from
// printing warnings between the JSON it prints. az's default is never to
// auto-upgrade.
var azQuietEnv = []AzEnvVar{
	{"AZURE_CORE_COLLECT_TELEMETRY", "false"},
	{"AZURE_CORE_SURVEY_MESSAGE", "false"},
	{"AZURE_CORE_ONLY_SHOW_ERRORS", "true"},
	{"AZURE_CORE_NO_COLOR", "true"},
	{"AZURE_CORE_DISABLE_PROGRESS_BAR", "true"},
}

func newAzEnvCmd(getenv func(string) string) *cobra.Command {
	c := AzEnvConfig{}
	dataDir := getenv("PEERPLANE_DATA_DIR")
	if dataDir == "" {
		dataDir = ".data"
	}
	cmd := &cobra.Command{
		Use:   "az-env",
		Short: "Point the real az CLI at the embedded Azure: prints shell exports",
		Long: `az-env prepares an isolated az configuration directory with the embedded
Azure registered as a cloud and made active, and prints the shell exports
that make az use it:

    eval "$(peerplane azure az-env)"
    az login --username admin@contoso.example --password Contoso-demo-pass1

The embedded Azure is found in DATA_DIR/endpoints.json, written by
` + "`peerplane serve`" + `, or given with --azure-url and --ca-file. Nothing az does
with these settings reaches Microsoft: telemetry and surveys are off, and
REQUESTS_CA_BUNDLE trusts only the embedded Azure's CA.

Debian's azure-cli 2.45 crashes in ` + "`az role assignment create`" + ` (Azure/azure-cli#24959);
--shim adds a small sitecustomize.py to PYTHONPATH that fixes it (putting
scripts/az-shim of a Peerplane checkout on PYTHONPATH does the same).
Microsoft's own az builds need no shim.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			vars, err := AzEnv(cmd.Context(), c)
			if err != nil {
				return err
			}
			fmt.Fprint(cmd.OutOrStdout(), formatExports(vars, c.Shim))
			return nil
		},
	}
	fs := cmd.Flags()
	fs.StringVar(&c.DataDir, "data-dir", dataDir, "data directory of `peerplane serve`, holding endpoints.json ($PEERPLANE_DATA_DIR)")
	fs.StringVar(&c.AzureURL, "azure-url", "", "URL of the embedded Azure, instead of DATA_DIR/endpoints.json (needs --ca-file)")
	fs.StringVar(&c.CAFile, "ca-file", "", "PEM file of the embedded Azure's CA (with --azure-url)")
	fs.StringVar(&c.ConfigDir, "config-dir", "", "az configuration directory to prepare (AZURE_CONFIG_DIR); default DATA_DIR/az")
	fs.StringVar(&c.CloudName, "cloud-name", "Peerplane", "name to register the embedded Azure under in az")
	fs.BoolVar(&c.Shim, "shim", false, "add the sitecustomize.py shim for Debian's azure-cli 2.45 to PYTHONPATH (Azure/azure-cli#24959)")
	fs.StringVar(&c.Az, "az", "az", "az executable")
	return cmd
}

var cloudNameRE = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_-]{0,63}$`)

// AzEnv registers the embedded Azure as the active cloud of an isolated az
// configuration directory and returns the environment az needs to use it.
// Errors name the flag or file at fault.
func AzEnv(ctx context.Context, c AzEnvConfig) ([]AzEnvVar, error) {
	if c.CloudName == "" {
		c.CloudName = "Peerplane"
	}
	if !cloudNameRE.MatchString(c.CloudName) {
		return nil, fmt.Errorf("--cloud-name %q: want letters, digits, - and _, starting with a letter", c.CloudName)
	}
	if c.Az == "" {
		c.Az = "az"
	}
	azURL, caFile, err := c.endpoint()
	if err != nil {
		return nil, err
	}
	if _, err := exec.LookPath(c.Az); err != nil {
		return nil, fmt.Errorf("--az: %w (Debian: apt-get install azure-cli, or run scripts/test-deps.sh)", err)
	}
	configDir := c.ConfigDir
	flag := "--config-dir"
	if configDir == "" {
		configDir, flag = filepath.Join(c.DataDir, "az"), "--data-dir"
	}
	if configDir, err = filepath.Abs(configDir); err != nil {
		return nil, fmt.Errorf("%s: %w", flag, err)
	}
	if err := os.MkdirAll(configDir, 0o700); err != nil {
		return nil, fmt.Errorf("%s: create az configuration directory: %w", flag, err)
	}

	vars := []AzEnvVar{{"AZURE_CONFIG_DIR", configDir}, {"REQUESTS_CA_BUNDLE", caFile}}
	vars = append(vars, azQuietEnv...)
	if c.Shim {
		dir := filepath.Join(configDir, "shim")
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, fmt.Errorf("--shim: %w", err)
		}
		if err := os.WriteFile(filepath.Join(dir, "sitecustomize.py"), []byte(azShimSource), 0o644); err != nil {
			return nil, fmt.Errorf("--shim: %w", err)
		}
		vars = append(vars, AzEnvVar{"PYTHONPATH", dir})
	}

	cloudFile := filepath.Join(configDir, "peerplane-cloud.json")
	b, _ := json.MarshalIndent(azCloudConfig(azURL), "", "  ")
	if err := os.WriteFile(cloudFile, append(b, '\n'), 0o644); err != nil {
		return nil, fmt.Errorf("write %s: %w", cloudFile, err)
	}
	env := AzCommandEnv(c.Env, vars)
	run := func(args ...string) (string, error) {
		return runAz(ctx, c.Az, env, args...)
	}
	// Register, or update a cloud registered before (the port may differ).
	if out, err := run("cloud", "register", "--name", c.CloudName, "--cloud-config", "@"+cloudFile); err != nil {
		if !strings.Contains(out, "already registered") {
			return nil, fmt.Errorf("az cloud register: %w", err)
		}
		if _, err := run("cloud", "update", "--name", c.CloudName, "--cloud-config", "@"+cloudFile); err != nil {
			return nil, fmt.Errorf("az cloud update: %w", err)
		}
	}
	if _, err := run("cloud", "set", "--name", c.CloudName); err != nil {
		return nil, fmt.Errorf("az cloud set: %w", err)
	}
	return vars, nil
}

// endpoint returns the embedded Azure's URL (without a trailing slash) and
// the absolute path of its CA file.
func (c AzEnvConfig) endpoint() (azURL, caFile string, err error) {
	switch {
	case c.AzureURL != "" && c.CAFile == "":
		return "", "", errors.New("--azure-url needs --ca-file")
	case c.AzureURL == "" && c.CAFile != "":
		return "", "", errors.New("--ca-file needs --azure-url")
	case c.AzureURL != "":
		azURL, caFile = c.AzureURL, c.CAFile
		if err := checkAzureURL(azURL); err != nil {
			return "", "", fmt.Errorf("--azure-url %q: %w", azURL, err)
		}
	default:
		if c.DataDir == "" {
			return "", "", errors.New("--data-dir must not be empty")
		}
		path := filepath.Join(c.DataDir, "endpoints.json")
		b, err := os.ReadFile(path)
		if errors.Is(err, os.ErrNotExist) {
			return "", "", fmt.Errorf("%s does not exist: start `peerplane serve --data-dir %s` first, or pass --azure-url and --ca-file", path, c.DataDir)
		}
		if err != nil {
			return "", "", err
		}
		var ep struct {
			URL    string `json:"url"`
			CAFile string `json:"ca_file"`
		}
		if err := json.Unmarshal(b, &ep); err != nil {
			return "", "", fmt.Errorf("%s: %w", path, err)
		}
		if err := checkAzureURL(ep.URL); err != nil {
			return "", "", fmt.Errorf("%s: url %q: %w", path, ep.URL, err)
		}
		if ep.CAFile == "" {
			return "", "", fmt.Errorf("%s: ca_file is empty", path)
		}
		azURL, caFile = ep.URL, ep.CAFile
		if !filepath.IsAbs(caFile) {
			// serve writes the path as it was given; resolve it against
			// the data directory's parent, where serve ran, when that exists.
			if _, err := os.Stat(caFile); err != nil {
				caFile = filepath.Join(c.DataDir, filepath.Base(caFile))
			}
		}
	}
	if caFile, err = filepath.Abs(caFile); err != nil {
		return "", "", err
	}
	pemBytes, err := os.ReadFile(caFile)
	if err != nil {
		return "", "", fmt.Errorf("CA file: %w", err)
	}
	if !x509.NewCertPool().AppendCertsFromPEM(pemBytes) {
		return "", "", fmt.Errorf("CA file %s holds no PEM certificate", caFile)
	}
	return strings.TrimRight(azURL, "/"), caFile, nil
}

func checkAzureURL(s string) error {
	u, err := url.Parse(s)
	if err != nil {
		return err
	}
	if u.Scheme != "https" || u.Host == "" {
		return errors.New("want https://host:port (az talks to Azure over HTTPS only)")
	}
	if u.Path != "" && u.Path != "/" {
		return errors.New("want no path")
	}
	return nil
}

// azCloudConfig is the cloud az registers for the embedded Azure at base.
// The authority ends in /adfs: MSAL then skips instance discovery (which
// would call login.microsoftonline.com) and reads
// base/adfs/.well-known/openid-configuration; the tenant comes from the
// user name. ARM is at base/, tokens for it carry the public cloud's
// management audience, and Graph is at base/graph/ with that URL as its
// audience.
func azCloudConfig(base string) map[string]any {
	return map[string]any{
		"endpoints": map[string]string{
			"management":                     base + "/",
			"resourceManager":                base + "/",
			"activeDirectory":                base + "/adfs",
			"activeDirectoryResourceId":      azManagementAudience,
			"activeDirectoryGraphResourceId": base + "/graph/",
			"microsoftGraphResourceId":       base + "/graph/",
		},
		"profile": azCloudProfile,
	}
}

// AzCommandEnv is base (nil: the process environment) with vars set, each
// replacing any earlier value of the same name; PYTHONPATH is prepended to.
func AzCommandEnv(base []string, vars []AzEnvVar) []string {
	if base == nil {
		base = os.Environ()
	}
	out := make([]string, 0, len(base)+len(vars))
	set := map[string]string{}
	for _, v := range vars {
		set[v.Name] = v.Value
	}
	for _, kv := range base {
		name, val, _ := strings.Cut(kv, "=")
		if nv, ok := set[name]; ok {
			if name == "PYTHONPATH" && val != "" {
				set[name] = nv + string(os.PathListSeparator) + val
			}
			continue
		}
		out = append(out, kv)
	}
	for _, v := range vars {
		out = append(out, v.Name+"="+set[v.Name])
	}
	return out
}

// runAz runs az with env and returns its combined output; a failure's error
// carries az's stderr.
func runAz(ctx context.Context, az string, env []string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, az, args...)
	cmd.Env = env
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.WaitDelay = 5 * time.Second
	err := cmd.Run()
	if err != nil {
		return out.String(), fmt.Errorf("%w: %s", err, strings.TrimSpace(out.String()))
	}
	return out.String(), nil
}

// formatExports renders vars as POSIX shell export lines for eval.
func formatExports(vars []AzEnvVar, shim bool) string {
	var b strings.Builder
	for _, v := range vars {
		if v.Name == "PYTHONPATH" {
			fmt.Fprintf(&b, "export PYTHONPATH=%s\"${PYTHONPATH:+:$PYTHONPATH}\"\n", shellQuote(v.Value))
			continue
		}
		fmt.Fprintf(&b, "export %s=%s\n", v.Name, shellQuote(v.Value))
	}
	if !shim {
		b.WriteString("# Debian's azure-cli 2.45 needs --shim for `az role assignment create` (Azure/azure-cli#24959).\n")
	}
	b.WriteString("# Now sign in, e.g.: az login --username admin@contoso.example --password Contoso-demo-pass1\n")
	return b.String()
}

func shellQuote(s string) string {
	if s != "" && !strings.ContainsFunc(s, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("/._-:,+@%=", r))
	}) {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// azShimSource is the shim az-env --shim writes into the az configuration
// directory (scripts/az-shim/sitecustomize.py links to the same file).
//
//go:embed azshim/sitecustomize.py
var azShimSource string
