package web

import (
	"net/http"

	"github.com/tsunagi-net/tsunagi/internal/fault"
	"github.com/tsunagi-net/tsunagi/internal/fleet"
	"github.com/tsunagi-net/tsunagi/internal/network/flowrec"
)

// nodeFlows takes a node's batch of flow records (network/flowrec):
// decoded strictly, every hub checked against the node's placement, then
// stored per customer (flows.Store.Ingest). A batch failing any of this is
// answered 400 with the reason and nothing of it is stored; the agent
// drops it and counts its records as dropped.
func (s *Server) nodeFlows(w http.ResponseWriter, r *http.Request) error {
	if s.deps.Flows == nil {
		return errNoFlows()
	}
	body, err := readJSONBody(w, r, flowrec.MaxBatch)
	if err != nil {
		return err
	}
	b, err := flowrec.Decode(body)
	if err != nil {
		return fault.Field("flows", "%s", err.Error())
	}
	n := r.Context().Value(keyNode).(fleet.Node)
	placed, err := s.placedOn(r.Context(), n.Name)
	if err != nil {
		return err
	}
	if err := s.deps.Flows.Ingest(r.Context(), n.ID, placed, b); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
