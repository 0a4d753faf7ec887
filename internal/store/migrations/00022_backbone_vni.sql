-- The hub service model (internal/network), continued: the backbone VXLAN
-- network identifier of each customer's DR group, unique across customers so
-- that their backbones never meet. Portable SQL.

-- +goose Up
CREATE TABLE backbone_vnis (
    customer_id  TEXT PRIMARY KEY REFERENCES customers (id),
    vni          BIGINT NOT NULL UNIQUE CHECK (vni > 0 AND vni < 16777216)
);

-- +goose Down
DROP TABLE backbone_vnis;
