package azureemu

import "net/http"

// Placeholder until graph.go lands; its owner deletes this file.

func (e *Emulator) serveGraph(w http.ResponseWriter, r *http.Request) {
	writeGraphError(w, http.StatusNotFound, "Request_ResourceNotFound", "not implemented")
}
