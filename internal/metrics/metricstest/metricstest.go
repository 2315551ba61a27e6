// Package metricstest reads a /metrics page the way Prometheus does, for
// the tests of the servers that export one.
package metricstest

import (
	"io"
	"net/http"
	"testing"

	"github.com/peerplane/peerplane/internal/metrics"
)

// Families are the metric families of one scrape, by name.
type Families = metrics.Families

// Scrape GETs url with client (http.DefaultClient when nil) and parses
// the text exposition format; anything but a 200 and a parsable page
// fails t.
func Scrape(t testing.TB, client *http.Client, url string) Families {
	t.Helper()
	if client == nil {
		client = http.DefaultClient
	}
	resp, err := client.Get(url)
	if err != nil {
		t.Fatalf("scrape %s: %v", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("scrape %s: %s\n%s", url, resp.Status, b)
	}
	return Parse(t, resp.Body)
}

// Parse parses the text exposition format; a page that does not parse
// fails t.
func Parse(t testing.TB, r io.Reader) Families {
	t.Helper()
	fams, err := metrics.ParseText(r)
	if err != nil {
		t.Fatalf("parse metrics: %v", err)
	}
	return fams
}
