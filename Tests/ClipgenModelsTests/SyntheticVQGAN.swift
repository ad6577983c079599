// A small random VQGAN decoder in the converter's names and layout (docs/model-vqgan.md): conv weights
// [out, kh, kw, in] = ggml [in, kw, kh, out], F32 or Q8_0.
import ClipgenFile
import ClipgenKernels

struct SyntheticVQGAN {
    var codebook = 40, embedDim = 32, zChannels = 32, ch = 32, chMult = [1, 2], numResBlocks = 1
    var attention = [0, 1], grid = (3, 5), groups = 8

    func write(to path: String, matrices: MatrixType, seed: UInt64 = 3) throws {
        var random = SeededFloats(state: seed)
        var w = GGUFWriter()
        w.add("general.architecture", .string("clipgen"))
        w.add("clipgen.format_version", .uint32(1))
        w.add("clipgen.components", .array(.string, [.string("vqgan")]))
        let levels = chMult.count
        for (key, value) in [("n_embed", codebook), ("embed_dim", embedDim), ("z_channels", zChannels), ("ch", ch),
                             ("num_res_blocks", numResBlocks), ("resolution", grid.0 << (levels - 1)),
                             ("norm_groups", groups)] {
            w.add("clipgen.vqgan.\(key)", .uint32(UInt32(value)))
        }
        w.add("clipgen.vqgan.ch_mult", .array(.uint32, chMult.map { .uint32(UInt32($0)) }))
        w.add("clipgen.vqgan.attn_per_level", .array(.uint32, attention.map { .uint32(UInt32($0)) }))
        w.add("clipgen.vqgan.grid", .array(.uint32, [.uint32(UInt32(grid.0)), .uint32(UInt32(grid.1))]))
        w.add("clipgen.vqgan.norm_eps", .float32(1e-6))
        w.add("clipgen.vqgan.activation", .string("swish"))
        w.add("clipgen.vqgan.pixel_mean", .float32(0.5))
        w.add("clipgen.vqgan.pixel_std", .float32(0.5))

        func matrix(_ name: String, _ dims: [Int], scale: Float) {       // dims in ggml order, dims[0] = in
            let count = dims.reduce(1, *)
            let values = random.array(count, scale: scale)
            if matrices == .q8_0 && dims[0] % 32 == 0 {
                var bytes = [UInt8](repeating: 0, count: count / 32 * 34)
                values.withUnsafeBufferPointer { v in
                    bytes.withUnsafeMutableBytes { quantizeRowQ8_0Reference(v.baseAddress!, count: count, into: $0.baseAddress!) }
                }
                w.addTensor(name, type: .q8_0, shape: dims, bytes: bytes)
            } else {
                w.addTensor(name, shape: dims, f32: values)
            }
        }
        func conv(_ prefix: String, k: Int, in cin: Int, out cout: Int) {
            matrix(prefix + ".weight", [cin, k, k, cout], scale: 1.5 / Float(k * k * cin).squareRoot())
            w.addTensor(prefix + ".bias", shape: [cout], f32: random.array(cout, scale: 0.1))
        }
        func norm(_ prefix: String, _ c: Int) {
            w.addTensor(prefix + ".weight", shape: [c], f32: random.array(c, scale: 0.2).map { $0 + 1 })
            w.addTensor(prefix + ".bias", shape: [c], f32: random.array(c, scale: 0.1))
        }
        func resnet(_ p: String, _ cin: Int, _ cout: Int) {
            norm(p + ".norm1", cin)
            conv(p + ".conv1", k: 3, in: cin, out: cout)
            norm(p + ".norm2", cout)
            conv(p + ".conv2", k: 3, in: cout, out: cout)
            if cin != cout { conv(p + ".nin_shortcut", k: 1, in: cin, out: cout) }
        }
        func attn(_ p: String, _ c: Int) {
            norm(p + ".norm", c)
            for name in ["q", "k", "v", "proj_out"] { conv(p + "." + name, k: 1, in: c, out: c) }
        }
        matrix("vqgan.quantize.embedding.weight", [embedDim, codebook], scale: 1)
        conv("vqgan.post_quant_conv", k: 1, in: embedDim, out: zChannels)
        let top = ch * chMult[levels - 1]
        conv("vqgan.decoder.conv_in", k: 3, in: zChannels, out: top)
        resnet("vqgan.decoder.mid.block_1", top, top)
        attn("vqgan.decoder.mid.attn_1", top)
        resnet("vqgan.decoder.mid.block_2", top, top)
        for l in 0..<levels {
            let width = ch * chMult[l], above = l == levels - 1 ? top : ch * chMult[l + 1]
            for j in 0...numResBlocks {
                resnet("vqgan.decoder.up.\(l).block.\(j)", j == 0 ? above : width, width)
                if attention[l] == 1 { attn("vqgan.decoder.up.\(l).attn.\(j)", width) }
            }
            if l > 0 { conv("vqgan.decoder.up.\(l).upsample.conv", k: 3, in: width, out: width) }
        }
        norm("vqgan.decoder.norm_out", ch * chMult[0])
        conv("vqgan.decoder.conv_out", k: 3, in: ch * chMult[0], out: 3)
        try w.write(to: path)
    }
}
