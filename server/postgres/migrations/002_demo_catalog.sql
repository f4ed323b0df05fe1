-- The demo catalog. server/memstore builds in the same products; the
-- conformance suite (server/storetest) checks that both agree.
insert into products (id, name, unit_amount, currency, active) values
    ('cap',            'Onecharge Cap',     2000, 'usd', true),
    ('hoodie',         'Onecharge Hoodie',  4500, 'usd', true),
    ('mug',            'Onecharge Mug',     1200, 'usd', true),
    ('stickers',       'Sticker Pack',       500, 'usd', true),
    ('tshirt',         'Onecharge T-Shirt', 2500, 'usd', true),
    ('retired-poster', 'Retired Poster',    1500, 'usd', false);

---- create above / drop below ----

delete from products where id in ('cap', 'hoodie', 'mug', 'stickers', 'tshirt', 'retired-poster');
