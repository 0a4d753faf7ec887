package network

import (
	"fmt"

	"github.com/tsunagi-net/tsunagi/internal/fault"
)

// BGP MD5 passwords are write-only through the API: what a customer reads
// shows SecretMask in their place, and a configuration saved with the mask
// keeps the password the draft already has for that port. Only the desired
// state (for the agent) carries them in clear.

// Every Version, Draft and Editing that an exported method hands to a scope
// — the customer's own reads and a break-glass read alike — is masked by its
// mask method (deferred at the top of the method), so no caller has to
// remember to; the compiler reads configurations through unexported helpers.

func (v *Version) mask() { v.Config = v.Config.Redacted() }
func (d *Draft) mask()   { d.Config = d.Config.Redacted() }
func (e *Editing) mask() { e.Draft.mask() }

// SecretMask stands for a password that is set.
const SecretMask = "********"

// Redacted returns a copy of c with every MD5 password masked.
func (c Config) Redacted() Config {
	out := c
	out.Ports = make([]PortConfig, len(c.Ports))
	for i, p := range c.Ports {
		if p.OnPrem != nil && p.OnPrem.MD5 != "" {
			o := *p.OnPrem
			o.MD5 = SecretMask
			p.OnPrem = &o
		}
		if p.Cloud != nil && p.Cloud.MD5 != "" {
			cl := *p.Cloud
			cl.MD5 = SecretMask
			p.Cloud = &cl
		}
		out.Ports[i] = p
	}
	return out
}

// restoreSecrets replaces masked passwords in cfg by the ones prev has for
// the same port; a mask with nothing behind it is an error.
func restoreSecrets(cfg *Config, prev Config) error {
	old := map[string]PortConfig{}
	for _, p := range prev.Ports {
		old[p.PortCode] = p
	}
	for i := range cfg.Ports {
		p := &cfg.Ports[i]
		o, had := old[p.PortCode]
		if p.OnPrem != nil && p.OnPrem.MD5 == SecretMask {
			if !had || o.OnPrem == nil || o.OnPrem.MD5 == "" {
				return fault.Field(fmt.Sprintf("ports[%d].onprem.md5", i), "the MD5 password is masked but none is set; give the password")
			}
			p.OnPrem.MD5 = o.OnPrem.MD5
		}
		if p.Cloud != nil && p.Cloud.MD5 == SecretMask {
			if !had || o.Cloud == nil || o.Cloud.MD5 == "" {
				return fault.Field(fmt.Sprintf("ports[%d].cloud.md5", i), "the MD5 password is masked but none is set; give the password")
			}
			p.Cloud.MD5 = o.Cloud.MD5
		}
	}
	return nil
}
