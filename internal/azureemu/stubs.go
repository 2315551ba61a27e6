package azureemu

import "net/http"

// Placeholders, replaced by entra.go, graph.go and arm.go.

type pendingCode struct{}

func (e *Emulator) serveEntra(w http.ResponseWriter, r *http.Request) {
	writeOAuthError(w, http.StatusNotFound, "invalid_request", "", "not implemented")
}

func (e *Emulator) serveGraph(w http.ResponseWriter, r *http.Request) {
	writeGraphError(w, http.StatusNotFound, "Request_ResourceNotFound", "not implemented")
}

func (e *Emulator) serveARM(w http.ResponseWriter, r *http.Request) {
	writeARMError(w, http.StatusNotFound, "NotFound", "not implemented")
}
