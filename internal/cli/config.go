package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"
)

// DefaultURL is the control-plane API of a `peerplane serve` with its
// default --listen.
const DefaultURL = "http://127.0.0.1:8080"

// Config is the CLI's configuration file, written by `peerplane login`,
// `peerplane environment use` and `peerplane azure login` with mode 0600.
type Config struct {
	URL         string        `json:"url,omitempty"`
	APIKey      string        `json:"api_key,omitempty"`
	APISecret   string        `json:"api_secret,omitempty"`
	Environment string        `json:"environment,omitempty"`
	Azure       *AzureSession `json:"azure,omitempty"`
}

// configPath is $PEERPLANE_CONFIG, else $XDG_CONFIG_HOME/peerplane/config.json,
// else ~/.peerplane/config.json.
func (a *app) configPath() (string, error) {
	if p := a.getenv("PEERPLANE_CONFIG"); p != "" {
		return p, nil
	}
	if x := a.getenv("XDG_CONFIG_HOME"); x != "" {
		return filepath.Join(x, "peerplane", "config.json"), nil
	}
	home := a.getenv("HOME")
	if home == "" {
		h, err := os.UserHomeDir()
		if err != nil {
			return "", fmt.Errorf("no home directory for the config file: set $PEERPLANE_CONFIG (%w)", err)
		}
		home = h
	}
	return filepath.Join(home, ".peerplane", "config.json"), nil
}

// loadConfig reads the config file; a missing file is an empty Config.
func (a *app) loadConfig() (*Config, string, error) {
	path, err := a.configPath()
	if err != nil {
		return nil, "", err
	}
	c := &Config{}
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return c, path, nil
	}
	if err != nil {
		return nil, path, err
	}
	if err := json.Unmarshal(b, c); err != nil {
		return nil, path, fmt.Errorf("config file %s: %w", path, err)
	}
	return c, path, nil
}

// saveConfig writes c to path with mode 0600, atomically.
func saveConfig(path string, c *Config) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	b, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".config-*.json")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return err
	}
	if _, err := tmp.Write(append(b, '\n')); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// updateConfig loads the config, applies f and saves it.
func (a *app) updateConfig(f func(*Config)) (string, error) {
	c, path, err := a.loadConfig()
	if err != nil {
		return "", err
	}
	f(c)
	return path, saveConfig(path, c)
}

// serveFiles is what `peerplane serve` writes into its data directory.
type serveFiles struct {
	APIKey    string `json:"api_key"`
	APISecret string `json:"api_secret"`
	APIURL    string
	AzureURL  string
	CAFile    string
}

// readDataDir reads DIR/credentials.json and DIR/endpoints.json.
func readDataDir(dir string) (serveFiles, error) {
	var f serveFiles
	b, err := os.ReadFile(filepath.Join(dir, "credentials.json"))
	if err != nil {
		return f, err
	}
	if err := json.Unmarshal(b, &f); err != nil {
		return f, fmt.Errorf("%s: %w", filepath.Join(dir, "credentials.json"), err)
	}
	if b, err := os.ReadFile(filepath.Join(dir, "endpoints.json")); err == nil {
		var ep struct {
			APIURL string `json:"api_url"`
			URL    string `json:"url"`
			CAFile string `json:"ca_file"`
		}
		if err := json.Unmarshal(b, &ep); err != nil {
			return f, fmt.Errorf("%s: %w", filepath.Join(dir, "endpoints.json"), err)
		}
		f.APIURL, f.AzureURL, f.CAFile = ep.APIURL, ep.URL, ep.CAFile
		if f.CAFile != "" && !filepath.IsAbs(f.CAFile) {
			if _, err := os.Stat(f.CAFile); err != nil {
				f.CAFile = filepath.Join(dir, filepath.Base(f.CAFile))
			}
		}
		if f.CAFile != "" {
			f.CAFile, _ = filepath.Abs(f.CAFile)
		}
	}
	return f, nil
}

// credentials are a resolved API URL and key.
type credentials struct {
	URL, Key, Secret string
}

// credentials resolves each of URL, key and secret from the flags, then
// $PEERPLANE_URL/_API_KEY/_API_SECRET, then the config file, then
// .data/credentials.json and .data/endpoints.json when present.
func (a *app) credentials() (credentials, error) {
	var c credentials
	cfg, _, err := a.loadConfig()
	if err != nil {
		return c, err
	}
	var dd serveFiles
	if a.dataDir != "" {
		if dd, err = readDataDir(a.dataDir); err != nil {
			return c, fmt.Errorf("--data-dir: %w", err)
		}
	} else {
		dd, _ = readDataDir(".data")
	}
	first := func(vs ...string) string {
		for _, v := range vs {
			if v != "" {
				return v
			}
		}
		return ""
	}
	c.URL = strings.TrimRight(first(a.url, a.getenv("PEERPLANE_URL"), cfg.URL, dd.APIURL, DefaultURL), "/")
	c.Key = first(a.apiKey, a.getenv("PEERPLANE_API_KEY"), cfg.APIKey, dd.APIKey)
	c.Secret = first(a.apiSecret, a.getenv("PEERPLANE_API_SECRET"), cfg.APISecret, dd.APISecret)
	if err := checkURL(c.URL); err != nil {
		return c, fmt.Errorf("--url %q: %w", c.URL, err)
	}
	if c.Key == "" || c.Secret == "" {
		return c, errors.New("no API key: run `peerplane login --url URL --api-key KEY --api-secret SECRET` (or `peerplane login --data-dir DIR`), or set $PEERPLANE_API_KEY and $PEERPLANE_API_SECRET")
	}
	return c, nil
}

func checkURL(s string) error {
	u, err := url.Parse(s)
	if err != nil {
		return err
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return errors.New("want http://host:port or https://host:port")
	}
	return nil
}

func (a *app) newLoginCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "login",
		Short: "Save the control-plane URL and Cloud API key for the other commands",
		Long: `Save the control-plane URL and a Cloud API key in the config file
($PEERPLANE_CONFIG, else $XDG_CONFIG_HOME/peerplane/config.json, else
~/.peerplane/config.json; mode 0600) after checking them against the API.

    peerplane login --url http://127.0.0.1:8080 --api-key KEY --api-secret SECRET
    peerplane login --data-dir .data     # what peerplane serve wrote there

Every command resolves the URL, key and secret from its flags, then
$PEERPLANE_URL, $PEERPLANE_API_KEY and $PEERPLANE_API_SECRET, then the config
file, then .data/credentials.json and .data/endpoints.json.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if a.dataDir == "" && a.url == "" && a.apiKey == "" && a.apiSecret == "" {
				return usageError(cmd, "pass --url, --api-key and --api-secret, or --data-dir")
			}
			creds, err := a.credentials()
			if err != nil {
				return err
			}
			cl := newClient(creds)
			if _, err := cl.listEnvironments(cmd.Context()); err != nil {
				return err
			}
			path, err := a.updateConfig(func(c *Config) {
				c.URL, c.APIKey, c.APISecret = creds.URL, creds.Key, creds.Secret
			})
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Logged in to %s with API key %s (saved in %s).\n", creds.URL, creds.Key, path)
			return nil
		},
	}
	a.addConnFlags(cmd)
	cmd.Flags().StringVar(&a.dataDir, "data-dir", "", "read the URL and key from DIR/endpoints.json and DIR/credentials.json, written by peerplane serve")
	return cmd
}

func (a *app) newLogoutCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "logout",
		Short: "Remove the saved API key (and Azure session) from the config file",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			path, err := a.updateConfig(func(c *Config) { c.APIKey, c.APISecret, c.Azure = "", "", nil })
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Logged out (updated %s).\n", path)
			return nil
		},
	}
}
