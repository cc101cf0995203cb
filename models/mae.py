"""Masked autoencoder (He et al. 2022; paper 003, Sec. 3.1): a timm ViT encodes the visible 25 % of the
patches, a light Transformer decoder reconstructs the pixels of the masked ones, and the loss is the
mean squared error on the masked patches only. After pre-training the decoder is dropped and the
encoder becomes a backbone (then fine-tuned, then used for features)."""

import torch
from torch import nn


class MaskedAutoencoder(nn.Module):
    def __init__(self, encoder, decoder_width=128, decoder_layers=2, decoder_heads=4, mask_ratio=0.75):
        super().__init__()
        if not 0 < mask_ratio < 1:
            raise ValueError(f"mask_ratio must lie in (0, 1), got {mask_ratio}")
        self.encoder = encoder  # a timm VisionTransformer with a class token
        self.mask_ratio = mask_ratio
        self.patch = encoder.patch_embed.patch_size[0]
        patches = encoder.patch_embed.num_patches
        channels = encoder.patch_embed.proj.in_channels
        self.decoder_embed = nn.Linear(encoder.embed_dim, decoder_width)
        self.mask_token = nn.Parameter(torch.zeros(1, 1, decoder_width))
        self.decoder_position = nn.Parameter(torch.zeros(1, patches + 1, decoder_width))
        nn.init.trunc_normal_(self.decoder_position, std=0.02)
        nn.init.normal_(self.mask_token, std=0.02)
        layer = nn.TransformerEncoderLayer(
            decoder_width, decoder_heads, 4 * decoder_width, 0.0, batch_first=True, norm_first=True
        )
        self.decoder = nn.TransformerEncoder(layer, decoder_layers, enable_nested_tensor=False)
        self.decoder_norm = nn.LayerNorm(decoder_width)
        self.predict = nn.Linear(decoder_width, self.patch * self.patch * channels)

    def patchify(self, images):
        """(batch, channels, H, W) -> (batch, patches, patch * patch * channels), row-major patches."""
        b, c, h, w = images.shape
        p = self.patch
        x = images.reshape(b, c, h // p, p, w // p, p).permute(0, 2, 4, 3, 5, 1)
        return x.reshape(b, (h // p) * (w // p), p * p * c)

    def unpatchify(self, patches, channels):
        """``patchify``'s inverse: (batch, patches, patch * patch * channels) -> (batch, channels, H, W)."""
        b, n, _ = patches.shape
        p, side = self.patch, int(round(n**0.5))
        x = patches.reshape(b, side, side, p, p, channels).permute(0, 5, 1, 3, 2, 4)
        return x.reshape(b, channels, side * p, side * p)

    def random_masking(self, x):
        """Keep a random ``1 - mask_ratio`` of each image's patches; mask: 1 where a patch is hidden."""
        b, n, d = x.shape
        keep = max(1, int(n * (1 - self.mask_ratio)))
        order = torch.rand(b, n, device=x.device).argsort(dim=1)
        restore = order.argsort(dim=1)
        visible = x.gather(1, order[:, :keep, None].expand(-1, -1, d))
        mask = torch.ones(b, n, device=x.device)
        mask[:, :keep] = 0
        return visible, mask.gather(1, restore), restore

    def forward(self, images):
        """(loss, predicted patches, mask)."""
        encoder = self.encoder
        x = encoder.patch_embed(images) + encoder.pos_embed[:, 1:]
        x, mask, restore = self.random_masking(x)
        cls = (encoder.cls_token + encoder.pos_embed[:, :1]).expand(len(x), -1, -1)
        x = encoder.norm(encoder.blocks(encoder.norm_pre(torch.cat([cls, x], dim=1))))
        y = self.decoder_embed(x)
        hidden = self.mask_token.expand(len(y), restore.shape[1] + 1 - y.shape[1], -1)
        tokens = torch.cat([y[:, 1:], hidden], dim=1)
        tokens = tokens.gather(1, restore[..., None].expand(-1, -1, tokens.shape[2]))
        y = torch.cat([y[:, :1], tokens], dim=1) + self.decoder_position
        predicted = self.predict(self.decoder_norm(self.decoder(y)))[:, 1:]
        error = ((predicted - self.patchify(images)) ** 2).mean(dim=-1)
        return (error * mask).sum() / mask.sum(), predicted, mask
