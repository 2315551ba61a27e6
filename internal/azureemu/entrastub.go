package azureemu

import "net/http"

// Placeholder until entra.go lands; its owner deletes this file.

type pendingCode struct{}

func (e *Emulator) serveEntra(w http.ResponseWriter, r *http.Request) {
	writeOAuthError(w, http.StatusNotFound, "invalid_request", "", "not implemented")
}
