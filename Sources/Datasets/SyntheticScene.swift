// SyntheticScene: the simulation behind the built-in corpus (SyntheticVideos.swift) — the portable random
// numbers and math it runs on, the objects, the gripper and its motion (classic, and driven by actions in
// the conditioned scene), the palettes, all in resolution-independent reference units (the shorter image
// side is 64). Pure Double arithmetic with IEEE-exact operations, so a video is the same on every platform.
//
// Not here: the generator's public interface (SyntheticVideos.swift), drawing a scene into pixels
// (SyntheticCanvas.swift).

// MARK: - Random numbers and deterministic math

/// SplitMix64 (Steele, Lea & Flood 2014): tiny, fast, and identical on every platform.
struct SplitMix64 {
    var state: UInt64

    init(seed: UInt64) { state = seed }

    @inline(__always)
    static func mix(_ value: UInt64) -> UInt64 {
        var z = value
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    @inline(__always)
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        return Self.mix(state)
    }

    /// Uniform in [0, 1) with 53 random bits.
    mutating func uniform() -> Double { Double(next() >> 11) * 0x1.0p-53 }
    mutating func uniform(_ low: Double, _ high: Double) -> Double { low + (high - low) * uniform() }
    /// Uniform integer in 0..<bound (the modulo bias is irrelevant for the tiny bounds used here).
    mutating func integer(below bound: Int) -> Int { Int(next() % UInt64(bound)) }
    /// Approximately standard normal (Irwin–Hall sum of four uniforms, rescaled to unit variance).
    mutating func normal() -> Double {
        (uniform() + uniform() + uniform() + uniform() - 2.0) * 1.7320508075688772
    }
}

/// Sine and cosine from + and × only, so results are bit-identical on every platform (libm is not).
enum PortableMath {
    static let pi = 3.141592653589793

    static func sin(_ x: Double) -> Double {
        let twoPi = 2 * pi
        var r = x - (x / twoPi).rounded() * twoPi           // [-π, π]
        if r > pi / 2 { r = pi - r } else if r < -pi / 2 { r = -pi - r }   // [-π/2, π/2]
        let r2 = r * r
        // Taylor series to r^15; the error at π/2 is below 1e-10.
        var p = -1.0 / 1_307_674_368_000
        p = p * r2 + 1.0 / 6_227_020_800
        p = p * r2 - 1.0 / 39_916_800
        p = p * r2 + 1.0 / 362_880
        p = p * r2 - 1.0 / 5040
        p = p * r2 + 1.0 / 120
        p = p * r2 - 1.0 / 6
        return r + r * r2 * p
    }

    static func cos(_ x: Double) -> Double { sin(x + pi / 2) }

    @inline(__always)
    static func smoothstep(_ x: Float) -> Float { x * x * (3 - 2 * x) }
}

// MARK: - Scene (resolution independent, reference units: the shorter side is 64)

struct SceneObject {
    var isDisc: Bool
    var x: Double, y: Double
    /// Disc: both are the radius. Box: half extents along the box's own axes.
    var halfWidth: Double, halfHeight: Double
    var angle: Double
    var red: Float, green: Float, blue: Float

    /// Radius used for object–object separation.
    var collisionRadius: Double { isDisc ? halfWidth : 0.5 * (halfWidth + halfHeight) + 0.5 }
    var boundingRadius: Double { isDisc ? halfWidth : (halfWidth * halfWidth + halfHeight * halfHeight).squareRoot() }

    /// Signed distance from (px, py) to the object's outline and the outward unit normal there.
    func signedDistance(_ px: Double, _ py: Double) -> (distance: Double, normalX: Double, normalY: Double) {
        let dx = px - x, dy = py - y
        if isDisc {
            let length = (dx * dx + dy * dy).squareRoot()
            if length < 1e-9 { return (-halfWidth, 0, 1) }
            return (length - halfWidth, dx / length, dy / length)
        }
        let c = PortableMath.cos(angle), s = PortableMath.sin(angle)
        let u = c * dx + s * dy, v = -s * dx + c * dy          // box-local coordinates
        let qu = abs(u) - halfWidth, qv = abs(v) - halfHeight
        var nu: Double, nv: Double, distance: Double
        if qu > 0 || qv > 0 {
            let ou = max(qu, 0), ov = max(qv, 0)
            distance = (ou * ou + ov * ov).squareRoot()
            nu = ou / distance * (u < 0 ? -1 : 1)
            nv = ov / distance * (v < 0 ? -1 : 1)
        } else if qu > qv {
            distance = qu; nu = u < 0 ? -1 : 1; nv = 0
        } else {
            distance = qv; nu = 0; nv = v < 0 ? -1 : 1
        }
        return (distance, c * nu - s * nv, s * nu + c * nv)
    }
}

struct Gripper {
    var x: Double, y: Double
    /// Height above the table in [0, 1]: 0 touches the table (and pushes), 1 is fully raised.
    var z: Double
    var velocityX = 0.0, velocityY = 0.0, velocityZ = 0.0
    /// Finger opening in [0, 1].
    var opening: Double
    var targetX = 0.0, targetY = 0.0
    var targetObject = -1
    var stepsToRetarget = 0
    var speed: Double
    /// Where the arm enters, above the top edge.
    var baseX: Double

    static let pushRadius = 4.0
    static let pushHeight = 0.4
}

/// Table palette (albedo) and object palette.
private let tableTones: [(Float, Float, Float)] = [
    (0.64, 0.54, 0.42), (0.56, 0.57, 0.59), (0.70, 0.64, 0.53), (0.52, 0.47, 0.42), (0.60, 0.60, 0.52),
]
private let objectColours: [(Float, Float, Float)] = [
    (0.85, 0.15, 0.12), (0.12, 0.40, 0.85), (0.95, 0.78, 0.10), (0.15, 0.62, 0.25), (0.58, 0.22, 0.70),
    (0.95, 0.45, 0.10), (0.10, 0.68, 0.70), (0.92, 0.92, 0.90), (0.20, 0.20, 0.23), (0.88, 0.42, 0.62),
]

/// The conditioned scenes' palettes: objects without purple and pink (nothing may look like the magenta
/// gripper), and the class tables (albedo), far apart in chromaticity and none near magenta.
let markedObjectColours: [(Float, Float, Float)] = objectColours.enumerated().filter { ![4, 9].contains($0.offset) }.map(\.element)
let classTables: [(Float, Float, Float)] = [
    (0.76, 0.28, 0.24), (0.80, 0.52, 0.22), (0.74, 0.70, 0.28), (0.36, 0.62, 0.32), (0.24, 0.60, 0.58), (0.30, 0.42, 0.76),
]
/// The gripper body's colour in the conditioned scenes.
let markerColour: (Float, Float, Float) = (0.95, 0.12, 0.88)

/// Chromaticity (r, g) = (R, G) / (R + G + B) of a colour: what lighting (a common factor) leaves alone.
func chromaticity(_ red: Float, _ green: Float, _ blue: Float) -> (Float, Float) {
    let sum = max(red + green + blue, 1e-6)
    return (red / sum, green / sum)
}

/// How a scene differs from the classic one. `.classic` draws exactly the classic scene.
struct SceneStyle {
    /// The magenta gripper and the palette without purple and pink.
    var marked = false
    /// The video's class: the table's colour (nil: the classic table tones).
    var label: Int? = nil

    static let classic = SceneStyle()
}

struct Scene {
    let sceneWidth: Double, sceneHeight: Double
    /// Whether the gripper's body is the magenta marker (conditioned scenes).
    let marked: Bool
    /// Width of the tray rim.
    let rim: Double
    /// Direction the light travels (shadows fall this way), unit length.
    let lightX: Double, lightY: Double
    let tableRed: Float, tableGreen: Float, tableBlue: Float
    /// Low-frequency colour field: a (cells+1)² grid of luminance and chroma offsets.
    let noiseCells: Int
    let noiseLuminance: [Float], noiseRed: [Float], noiseBlue: [Float]
    let grainDirectionX: Float, grainDirectionY: Float, grainFrequency: Float, grainAmplitude: Float
    let textureSeed: UInt64
    let tintRed: Float, tintGreen: Float, tintBlue: Float
    let brightness: Float, lightGradient: Float, vignette: Float
    var objects: [SceneObject]
    var gripper: Gripper
    var random: SplitMix64

    var minX: Double { rim + 2 }
    var maxX: Double { sceneWidth - rim - 2 }
    var minY: Double { rim + 2 }
    var maxY: Double { sceneHeight - rim - 2 }

    init(seed: UInt64, index: Int, sceneWidth: Double, sceneHeight: Double, style: SceneStyle = .classic) {
        var random = SplitMix64(seed: SplitMix64.mix(seed ^ 0x5649_4445_4F53_594E)
                                      &+ SplitMix64.mix(UInt64(bitPattern: Int64(index)) &+ 0x632B_E59B_D9B4_E019))
        _ = random.next()
        // The conditioned styles draw from their own stream, so the classic stream (and scene) is untouched.
        var styleRandom = SplitMix64(seed: SplitMix64.mix(seed ^ 0x434F_4E44_5354_594C)
                                           &+ SplitMix64.mix(UInt64(bitPattern: Int64(index)) &+ 0x2545_F491_4F6C_DD1D))
        marked = style.marked
        self.sceneWidth = sceneWidth
        self.sceneHeight = sceneHeight
        rim = random.uniform(3.5, 6.0)
        let lightAngle = random.uniform(0.35, 1.25) + (random.uniform() < 0.5 ? 0 : 1.4)
        lightX = PortableMath.cos(lightAngle)
        lightY = PortableMath.sin(lightAngle)

        let tone = tableTones[random.integer(below: tableTones.count)]
        var table = (tone.0 + Float(random.uniform(-0.04, 0.04)), tone.1 + Float(random.uniform(-0.04, 0.04)),
                     tone.2 + Float(random.uniform(-0.04, 0.04)))
        if let label = style.label {
            let classTone = classTables[label]
            table = (classTone.0 + Float(styleRandom.uniform(-0.03, 0.03)), classTone.1 + Float(styleRandom.uniform(-0.03, 0.03)),
                     classTone.2 + Float(styleRandom.uniform(-0.03, 0.03)))
        }
        (tableRed, tableGreen, tableBlue) = table
        noiseCells = 4
        let points = (noiseCells + 1) * (noiseCells + 1)
        var luminance = [Float](), red = [Float](), blue = [Float]()
        for _ in 0..<points {
            luminance.append(Float(0.05 * random.normal()))
            red.append(Float(0.015 * random.normal()))
            blue.append(Float(0.015 * random.normal()))
        }
        noiseLuminance = luminance; noiseRed = red; noiseBlue = blue
        let grainAngle = random.uniform(0, PortableMath.pi)
        grainDirectionX = Float(PortableMath.cos(grainAngle))
        grainDirectionY = Float(PortableMath.sin(grainAngle))
        grainFrequency = Float(random.uniform(0.6, 1.2))
        grainAmplitude = Float(random.uniform(0.015, 0.035))
        textureSeed = random.next()

        tintRed = Float(1 + random.uniform(-0.06, 0.06))
        tintGreen = Float(1 + random.uniform(-0.06, 0.06))
        tintBlue = Float(1 + random.uniform(-0.06, 0.06))
        brightness = Float(random.uniform(0.88, 1.08))
        lightGradient = Float(random.uniform(0.04, 0.14))
        vignette = Float(random.uniform(0.08, 0.2))

        // Objects: 2–4, placed without overlap where possible (at most 30 tries each).
        let lowX = rim + 8, highX = sceneWidth - rim - 8
        let lowY = rim + 12, highY = sceneHeight - rim - 8
        var objects: [SceneObject] = []
        for _ in 0..<(2 + random.integer(below: 3)) {
            let isDisc = random.uniform() < 0.5
            let colour = objectColours[random.integer(below: objectColours.count)]
            let shade = Float(random.uniform(0.85, 1.05))
            var object = SceneObject(
                isDisc: isDisc, x: 0, y: 0,
                halfWidth: isDisc ? random.uniform(3.5, 6.0) : random.uniform(3.0, 6.5),
                halfHeight: 0, angle: random.uniform(0, PortableMath.pi),
                red: colour.0 * shade, green: colour.1 * shade, blue: colour.2 * shade)
            object.halfHeight = isDisc ? object.halfWidth : random.uniform(2.5, 5.0)
            for _ in 0..<30 {
                object.x = random.uniform(lowX, max(lowX, highX))
                object.y = random.uniform(lowY, max(lowY, highY))
                let clear = objects.allSatisfy { other in
                    let dx = other.x - object.x, dy = other.y - object.y
                    let gap = other.boundingRadius + object.boundingRadius + 1.5
                    return dx * dx + dy * dy > gap * gap
                }
                if clear { break }
            }
            objects.append(object)
        }
        if style.marked {
            // Recoloured from the marked palette, leaving out colours near the table's (same chromaticity).
            let tableColour = chromaticity(table.0, table.1, table.2)
            let palette = markedObjectColours.filter { colour in
                let c = chromaticity(colour.0, colour.1, colour.2)
                let (dr, dg) = (c.0 - tableColour.0, c.1 - tableColour.1)
                return style.label == nil || dr * dr + dg * dg > 0.1 * 0.1
            }
            for i in objects.indices {
                let colour = palette[styleRandom.integer(below: palette.count)]
                let shade = Float(styleRandom.uniform(0.85, 1.05))
                (objects[i].red, objects[i].green, objects[i].blue) = (colour.0 * shade, colour.1 * shade, colour.2 * shade)
            }
        }
        self.objects = objects

        gripper = Gripper(x: random.uniform(rim + 6, sceneWidth - rim - 6),
                          y: random.uniform(rim + 6, 0.6 * sceneHeight),
                          z: random.uniform(0.5, 1.0), opening: random.uniform(0.2, 1.0),
                          speed: random.uniform(1.6, 3.0),
                          baseX: random.uniform(0.3, 0.7) * sceneWidth)
        self.random = random
    }

    /// One simulation step: move the gripper towards its target, push what it touches, separate objects.
    mutating func advance() {
        pursue(objectChance: 0.7, momentum: 0.7, pull: 0.3, noise: 0.3)
    }

    /// One step of the action-driven scene: like `advance`, with livelier motion (more noise, objects less
    /// often the target). Returns the action: the gripper's displacement (dx, dy, dz) and the change of
    /// its fingers' opening, as made (after the walls stopped it).
    mutating func advanceDriven() -> (dx: Double, dy: Double, dz: Double, dOpening: Double) {
        let (x, y, z, opening) = (gripper.x, gripper.y, gripper.z, gripper.opening)
        pursue(objectChance: 0.5, momentum: 0.65, pull: 0.35, noise: 0.8)
        return (gripper.x - x, gripper.y - y, gripper.z - z, gripper.opening - opening)
    }

    /// Smooth pursuit of the (re)chosen target with momentum and noise, then the pushes.
    mutating func pursue(objectChance: Double, momentum: Double, pull: Double, noise: Double) {
        let (dx, dy) = retarget(objectChance: objectChance)
        let distance = max((dx * dx + dy * dy).squareRoot(), 1e-6)
        let desired = min(gripper.speed, distance)
        gripper.velocityX = momentum * gripper.velocityX + pull * desired * dx / distance + noise * random.normal()
        gripper.velocityY = momentum * gripper.velocityY + pull * desired * dy / distance + noise * random.normal()
        moveGripper(distance: distance)
        pushAndSeparate()
    }

    /// Chooses a new target now and then — mostly "through" an object (so it gets pushed), else anywhere —
    /// and returns the offset from the gripper to the target.
    mutating func retarget(objectChance: Double) -> (Double, Double) {
        var dx = gripper.targetX - gripper.x, dy = gripper.targetY - gripper.y
        gripper.stepsToRetarget -= 1
        if gripper.stepsToRetarget <= 0 || dx * dx + dy * dy < 6 {
            gripper.stepsToRetarget = 5 + random.integer(below: 8)
            if !objects.isEmpty && random.uniform() < objectChance {
                let chosen = random.integer(below: objects.count)
                let object = objects[chosen]
                var ox = object.x - gripper.x, oy = object.y - gripper.y
                let length = max((ox * ox + oy * oy).squareRoot(), 1e-6)
                ox /= length; oy /= length
                let beyond = random.uniform(2, 8)
                gripper.targetX = object.x + ox * beyond
                gripper.targetY = object.y + oy * beyond
                gripper.targetObject = chosen
            } else {
                gripper.targetX = random.uniform(minX, maxX)
                gripper.targetY = random.uniform(minY, maxY)
                gripper.targetObject = -1
            }
            dx = gripper.targetX - gripper.x; dy = gripper.targetY - gripper.y
        }
        return (dx, dy)
    }

    /// Moves the gripper by its velocity (stopped by the walls), lowers it near a target object and raises it
    /// otherwise, and lets its fingers drift.
    mutating func moveGripper(distance: Double) {
        gripper.x += gripper.velocityX
        gripper.y += gripper.velocityY
        if gripper.x < minX { gripper.x = minX; gripper.velocityX *= -0.3 }
        if gripper.x > maxX { gripper.x = maxX; gripper.velocityX *= -0.3 }
        if gripper.y < minY { gripper.y = minY; gripper.velocityY *= -0.3 }
        if gripper.y > maxY { gripper.y = maxY; gripper.velocityY *= -0.3 }

        // Lower near a target object, raise otherwise.
        let nearObject = gripper.targetObject >= 0 && distance < 16
        let targetZ = nearObject ? 0.0 : 0.75
        gripper.velocityZ = 0.55 * gripper.velocityZ + 0.2 * (targetZ - gripper.z) + 0.04 * random.normal()
        gripper.z = min(max(gripper.z + gripper.velocityZ, 0), 1)
        gripper.opening = min(max(gripper.opening + 0.15 * random.normal(), 0), 1)
    }

    /// Pushes what a lowered gripper touches and separates the objects.
    mutating func pushAndSeparate() {
        // Push: a lowered gripper moves every object it overlaps out of its way (at most 3 units a step),
        // turning it a little according to where it was hit.
        if gripper.z < Gripper.pushHeight {
            for i in objects.indices {
                let hit = objects[i].signedDistance(gripper.x, gripper.y)
                let penetration = Gripper.pushRadius - hit.distance
                if penetration > 0 {
                    let step = min(penetration, 3.0)
                    let pushX = -hit.normalX * step, pushY = -hit.normalY * step
                    let armX = gripper.x - objects[i].x, armY = gripper.y - objects[i].y
                    let torque = armX * pushY - armY * pushX
                    objects[i].x += pushX
                    objects[i].y += pushY
                    if !objects[i].isDisc {
                        objects[i].angle += 0.5 * torque / max(objects[i].boundingRadius * objects[i].boundingRadius, 1)
                    }
                }
            }
        }
        // Objects push each other (bounding circles), and stay on the table.
        for _ in 0..<2 {
            for i in objects.indices {
                for j in objects.indices where j > i {
                    let ox = objects[j].x - objects[i].x, oy = objects[j].y - objects[i].y
                    let gap = objects[i].collisionRadius + objects[j].collisionRadius
                    let length = (ox * ox + oy * oy).squareRoot()
                    if length < gap {
                        let ux = length > 1e-6 ? ox / length : 1, uy = length > 1e-6 ? oy / length : 0
                        let half = 0.5 * (gap - length)
                        objects[i].x -= ux * half; objects[i].y -= uy * half
                        objects[j].x += ux * half; objects[j].y += uy * half
                    }
                }
            }
        }
        for i in objects.indices {
            let margin = 0.6 * objects[i].collisionRadius
            objects[i].x = min(max(objects[i].x, rim + margin), sceneWidth - rim - margin)
            objects[i].y = min(max(objects[i].y, rim + margin), sceneHeight - rim - margin)
        }
    }
}
