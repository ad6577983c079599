// Port of taming-transformers' VQGAN decoder (taming/modules/diffusionmodules/model.py `Decoder`, plus the
// codebook lookup and post_quant_conv of `VQModel.decode_code`); the spec is docs/model-vqgan.md and
// converter/clipgen_convert/vqgan_ref.py. HFAiLab/clip-gen's VQGAN is the same network under other names; the
// converter maps it onto these.
//
// Memory: activations are HWC floats; each GroupNorm is applied band by band inside the convolution that follows
// it, residual sums are made in place, and conv weights are dequantised only while their layer runs, so the
// peak is about three activations of the largest level (see `clipgen bench`).

import ClipgenFile
import ClipgenKernels
import ClipgenThreads

/// The decoder half of a VQGAN over a mapped model file: token grid in, RGB image out.
public final class VQGANDecoder {
    public let config: VQGANConfig
    /// The mapped file: every weight pointer below points into it, so the model keeps it open.
    let file: GGUFFile
    let codebook: Embedding                                  // [n_embed, embed_dim]
    let postQuantConv: ConvLayer                             // 1x1, embed_dim -> z_channels
    let convIn: ConvLayer                                    // 3x3, z_channels -> C_top
    let midBlock1: ResnetBlock, midAttention: AttentionBlock, midBlock2: ResnetBlock
    let levels: [Level]                                      // index = level, 0 = full resolution
    let normOut: GroupNormLayer
    let convOut: ConvLayer                                   // 3x3, C_0 -> 3

    /// One resolution level: resnet blocks (each optionally followed by attention), then a 2x upsampling conv.
    struct Level {
        let blocks: [ResnetBlock]
        let attentions: [AttentionBlock]                     // empty, or one per block
        let upsample: ConvLayer?                             // nil at level 0
    }

    /// The convolutions' arithmetic; float unless set (`clipgen bench conv` measures both on a model file).
    public var convolutionArithmetic = ConvolutionArithmetic.float {
        didSet { for layer in convolutions { layer.arithmetic = convolutionArithmetic } }
    }

    /// How many of the decoder's convolutions can run in int8 (Q8_0 weights, reduction a multiple of 32), of all.
    public var int8ConvolutionCount: (capable: Int, all: Int) {
        let all = convolutions
        return (all.filter(\.int8Capable).count, all.count)
    }

    /// Every convolution of the decoder (1x1 projections of the attention blocks included).
    var convolutions: [ConvLayer] {
        var all = [postQuantConv, convIn] + midBlock1.convolutions + midAttention.convolutions + midBlock2.convolutions
        for level in levels {
            all += level.blocks.flatMap(\.convolutions) + level.attentions.flatMap(\.convolutions)
            if let upsample = level.upsample { all.append(upsample) }
        }
        return all + [convOut]
    }

    /// Loads the `vqgan` component, checking every tensor's name, type and shape.
    public init(file: GGUFFile) throws {
        let r = try ComponentReader(file, component: "vqgan")
        self.file = file
        let c = try VQGANConfig(r)
        config = c
        codebook = try Embedding(r, "quantize.embedding.weight", count: c.codebookSize, width: c.embedDim)
        postQuantConv = try ConvLayer(r, "post_quant_conv", kernel: 1, in: c.embedDim, out: c.zChannels)
        let top = c.levelChannels[c.levels - 1]
        convIn = try ConvLayer(r, "decoder.conv_in", kernel: 3, in: c.zChannels, out: top)
        midBlock1 = try ResnetBlock(r, "decoder.mid.block_1", in: top, out: top, config: c)
        midAttention = try AttentionBlock(r, "decoder.mid.attn_1", channels: top, config: c)
        midBlock2 = try ResnetBlock(r, "decoder.mid.block_2", in: top, out: top, config: c)
        var levels: [Level] = []
        for l in 0..<c.levels {
            let width = c.levelChannels[l]
            let above = l == c.levels - 1 ? top : c.levelChannels[l + 1]
            let p = "decoder.up.\(l)."
            let blocks = try (0..<c.blocksPerLevel).map {
                try ResnetBlock(r, p + "block.\($0)", in: $0 == 0 ? above : width, out: width, config: c)
            }
            let attentions = c.attention[l]
                ? try (0..<c.blocksPerLevel).map { try AttentionBlock(r, p + "attn.\($0)", channels: width, config: c) }
                : []
            let upsample = l == 0 ? nil : try ConvLayer(r, p + "upsample.conv", kernel: 3, in: width, out: width)
            levels.append(Level(blocks: blocks, attentions: attentions, upsample: upsample))
        }
        self.levels = levels
        normOut = try GroupNormLayer(r, "decoder.norm_out", channels: c.levelChannels[0], config: c)
        convOut = try ConvLayer(r, "decoder.conv_out", kernel: 3, in: c.levelChannels[0], out: 3)
    }

    /// Decodes a token grid (raster order, `gridHeight * gridWidth` ids in 0..<codebookSize) to 8-bit RGB,
    /// `imageHeight * imageWidth * 3` bytes, rows top to bottom.
    public func decode(_ tokens: [Int32], pool: ThreadPool) -> [UInt8] {
        let x = decodeToFloats(tokens, pool: pool)
        let scale = config.pixelStd, offset = config.pixelMean
        return x.map { v in
            let fraction = Swift.min(Swift.max(v * scale + offset, 0), 1)
            return UInt8((fraction * 255).rounded(.toNearestOrEven))
        }
    }

    /// The decoder's float output before the pixel mapping, HWC [imageHeight, imageWidth, 3] (nominally [-1, 1]).
    public func decodeToFloats(_ tokens: [Int32], pool: ThreadPool) -> [Float] {
        let c = config
        precondition(tokens.count == c.gridHeight * c.gridWidth, "VQGAN: \(tokens.count) tokens for a \(c.gridHeight)x\(c.gridWidth) grid")
        var height = c.gridHeight, width = c.gridWidth
        let z = Tensor(pixels: height * width, channels: c.embedDim)           // [h * w, embed_dim]
        for (p, id) in tokens.enumerated() {
            precondition(id >= 0 && Int(id) < c.codebookSize, "VQGAN: token \(id) outside the codebook")
            codebook.copyRow(Int(id), into: z.data + p * c.embedDim)
        }
        let quantised = Tensor(pixels: height * width, channels: c.zChannels)
        postQuantConv(z.data, height: height, width: width, into: quantised.data, pool: pool)
        var x = Tensor(pixels: height * width, channels: c.levelChannels[c.levels - 1])
        convIn(quantised.data, height: height, width: width, into: x.data, pool: pool)
        x = midBlock1(x, height: height, width: width, pool: pool)
        midAttention(x, height: height, width: width, pool: pool)
        x = midBlock2(x, height: height, width: width, pool: pool)
        for l in stride(from: c.levels - 1, through: 0, by: -1) {
            let level = levels[l]
            for (j, block) in level.blocks.enumerated() {
                x = block(x, height: height, width: width, pool: pool)
                if !level.attentions.isEmpty { level.attentions[j](x, height: height, width: width, pool: pool) }
            }
            if let upsample = level.upsample {
                height *= 2
                width *= 2
                let up = Tensor(pixels: height * width, channels: x.channels)
                upsample(x.data, height: height, width: width, upsample: true, into: up.data, pool: pool)
                x = up
            }
        }
        let out = Tensor(pixels: height * width, channels: 3)
        convOut(x.data, height: height, width: width, into: out.data, pool: pool,
                prepare: normOut.prepare(x.data, width: width, statistics: normOut.statistics(x.data, pixels: height * width),
                                         swish: true))
        return Array(UnsafeBufferPointer(start: out.data, count: height * width * 3))
    }
}
