package azureemu

import "net/http"

// Placeholder until arm.go lands; its owner deletes this file.

func (e *Emulator) serveARM(w http.ResponseWriter, r *http.Request) {
	writeARMError(w, http.StatusNotFound, "NotFound", "not implemented")
}
