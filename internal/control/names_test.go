package control_test

import (
	"strings"
	"testing"

	"github.com/peerplane/peerplane/internal/control"
)

// TestValidateName: names refuse control (C0, DEL, C1, line and paragraph
// separators), bidirectional and zero-width characters and invalid UTF-8,
// naming the field and the character; letters of any script pass. The
// organization, API key and connector name rules refuse them too.
func TestValidateName(t *testing.T) {
	for _, bad := range []string{
		"\x00", "\a", "\t", "\n", "\r", "\x1b", "\x7f", "\u0080", "\u0085", "\u009f", "\u2028", "\u2029",
		"\u061c", "\u200e", "\u200f", "\u202a", "\u202b", "\u202c", "\u202d", "\u202e", "\u2066", "\u2067", "\u2068", "\u2069",
		"\u200b", "\u200c", "\u200d", "\u2060", "\ufeff",
		"\xff", // not UTF-8
	} {
		name := "pay" + bad + "roll"
		err := control.ValidateDisplayName("/spec/display_name", name)
		wantErr(t, err, control.EINVALID, "/spec/display_name")
		if r := []rune(bad)[0]; bad != "\xff" && !strings.Contains(control.ErrorMessage(err), "U+") {
			t.Errorf("%U: message does not name the character: %s", r, control.ErrorMessage(err))
		}
		wantErr(t, control.ValidateName("/description", "Description", name), control.EINVALID, "/description")
		wantErr(t, control.ValidateOrganizationName("/display_name", name), control.EINVALID, "/display_name")
		wantErr(t, control.ValidateConnector(&control.Connector{Name: name, Config: map[string]string{"connector.class": "X"}}), control.EINVALID, "name")
	}
	for _, ok := range []string{"", "prod", "Zürich prod", "東京-1", "ملف", "prod 🚀", strings.Repeat("é", 255)} {
		wantErr(t, control.ValidateDisplayName("/spec/display_name", ok), "", "")
	}
	wantErr(t, control.ValidateDisplayName("/spec/display_name", strings.Repeat("é", 256)), control.EINVALID, "/spec/display_name")
	if err := control.ValidateName("/description", "Description", "a\u202eb"); !strings.HasPrefix(control.ErrorMessage(err), "Description ") {
		t.Errorf("message does not name what: %v", err)
	}
}
